#include "pipeline/main_job_options.h"

#include <algorithm>
#include <stdexcept>
#include <utility>
#include <vector>

#include "core/file.h"
#include "model/flags.h"
#include "pipeline/flags.h"
#include "text/flags.h"
#include "train/train_flags.h"

namespace muchator {

namespace {

// Which of the pipeline's options each step's key holds, by name (a step's key also holds the key
// of the step before it, so a changed setting redoes its step and every step after it). Each key's
// values are read from the declarations (Options::Setting), and Run refuses to start when an
// option is in no step's key and not in kInNoKey: a new option cannot be forgotten, leaving a
// stale step in place.
const std::vector<std::pair<std::string, std::vector<std::string>>> kStepOptions = {
    {"world",
     {"world-preset", "seed", "world-catalog", "world-songs", "world-users", "world-events",
      "world-queries"}},
    {"tokenizer", {"vocab-size"}},
    {"corpus", {"codec", "seed"}},
    {"pretrain", {"model-size", "pretrain-steps", "general-steps", "bf16", "seed"}},
    {"reward", {"ranker-epochs", "bf16", "seed"}},
    {"sft", {"sft-steps", "bf16", "seed"}},
    {"judge", {"judge-kind", "judge-steps", "judge-layers", "bf16", "seed"}},
    {"grpo", {"grpo-steps", "grpo-runs", "grpo-constrained", "seed"}},
    {"report", {"report-requests"}},
};
// Options in no key: where the run goes, --fresh itself, and the data directories, whose
// content digests are in the world's and the ingest step's keys instead of their paths.
const std::vector<std::string> kInNoKey = {"out", "fresh", "input", "world-input"};

}  // namespace

// The settings of step `name`'s key, from the declarations (kStepOptions).
std::vector<std::string> StepSettings(const Options& opts, const std::string& name) {
  std::vector<std::string> settings;
  for (const auto& [step, names] : kStepOptions)
    if (step == name)
      for (const std::string& n : names) settings.push_back(opts.Setting(n));
  return settings;
}

// Throws std::logic_error when an option of the command is in no step's key and not in kInNoKey.
void CheckEveryOptionIsKeyed(const Options& opts) {
  for (const std::string& n : opts.Names()) {
    if (std::find(kInNoKey.begin(), kInNoKey.end(), n) != kInNoKey.end()) continue;
    bool keyed = false;
    for (const auto& [step, names] : kStepOptions)
      keyed = keyed || std::find(names.begin(), names.end(), n) != names.end();
    if (!keyed)
      throw std::logic_error("pipeline option --" + n +
                             " is in no step's key (kStepOptions in pipeline/main_job_options.cc)");
  }
}

void MainJobOptions::Declare(Options& opts) {
  AddOut(opts, &out, "run directory: world/, store.sqlite and each step's outputs and configs");
  AddPath(opts, PathFlag::kInput, &input,
          "your own data (ingestion JSONL directory); empty = the synthetic world");
  opts.Add("world-preset", &world_preset, "synthetic world size (as `muchator world --size`)")
      .OneOf({"tiny", "demo", "large"});
  opts.Add("world-catalog", &world_catalog,
           "songs of the built-in world: synthetic, or jamendo (the real MTG-Jamendo catalog from "
           "--world-input, users and behaviour simulated over it; docs/world.md)")
      .OneOf({"synthetic", "jamendo"});
  opts.Add("world-input", &world_input, "the MTG-Jamendo folder for --world-catalog jamendo");
  // The counts `muchator world` overrides, for a world between the presets (the tiny-world
  // learning test uses a tiny catalog with more listeners and requests).
  opts.Add("world-songs", &world_songs, "override the world's number of songs (0 = the size's)")
      .Range(0, 1e9);
  opts.Add("world-users", &world_users, "override the world's number of users (0 = the size's)")
      .Range(0, 1e9);
  opts.Add("world-events", &world_events,
           "override the world's number of listening events (0 = the size's)")
      .Range(0, 1e12);
  opts.Add("world-queries", &world_queries,
           "override the world's number of queries (0 = the size's)")
      .Range(0, 1e9);
  AddSeed(opts, &seed, "random seed of the synthetic world");
  opts.Add(kVocabSizeFlag, &vocab_size, "tokenizer vocabulary size (before item tokens)");
  opts.Add(kCodecFlag, &codec);
  opts.Add(kModelSizeFlag, &model_size, "model size to pre-train");
  opts.Add(kPretrainStepsFlag, &pretrain_steps);
  opts.Add(kGeneralStepsFlag, &general_steps,
           "optimizer steps of the general (everyday-language) pre-training stage, at lr 3e-3 "
           "(0 = four times --pretrain-steps)");
  opts.Add("ranker-epochs", &ranker_epochs,
           "ranking model passes over the events (0 = sized to the data)")
      .Range(0, 1000);
  opts.Add("judge-kind", &judge_kind,
           "the relevance judge (step 8): prf (the instruction-tuned model's best songs for the "
           "request read in a dense retriever's song space; held-out AUC ~0.9 on the demo "
           "world), pmi (the instruction-tuned model's first-song scores alone; ~0.82) or yesno "
           "(fine-tuned from the pre-trained model; ~0.63)")
      .OneOf({"prf", "pmi", "yesno"});
  opts.Add("judge-steps", &judge_steps, "yes/no relevance judge fine-tuning steps").Range(1, 1e9);
  opts.Add("judge-layers", &judge_layers,
           "the judge keeps the first N layers of the pre-trained model (1: ~3x faster, same "
           "held-out AUC on the "
           "demo world; 0 = all)")
      .Range(0, 1000);
  opts.Add(kSftStepsFlag, &sft_steps);
  opts.Add(kGrpoStepsFlag, &grpo_steps);
  opts.Add("grpo-runs", &grpo_runs,
           "GRPO runs from the SFT model (seeds --seed, --seed + 10, ...) whose weights are "
           "averaged into the aligned model: a model soup, which held relevance where one run "
           "lost it (docs/rl.md)")
      .Range(1, 16);
  opts.Add("grpo-constrained", &grpo_constrained,
           "constrained GRPO rollouts: the demo SFT model's free-text answers name catalog songs "
           "~1% of the time, "
           "so unconstrained rollouts leave the relevance and personalisation rewards without "
           "signal (docs/rl.md)");
  opts.Add("report-requests", &report_requests,
           "held-out test requests of the evaluation report (0 = no report)")
      .Range(0, 1e9);
  opts.Add("fresh", &fresh,
           "redo every step; without it a step already done in --out with the same settings and "
           "inputs is reused (RUN/steps/<step>.done) and an interrupted one resumes");
  opts.Add(kBf16Flag, &bf16,
           "bf16 autocast in training (about 2x faster on CPUs with bf16 support)");
}

MainJobOptions MainJobOptions::OfRun(const std::string& run) {
  MainJobOptions m;
  const std::string path = run + "/pipeline.config.toml";
  if (!FileExists(path)) return m;
  Options opts;
  m.Declare(opts);
  opts.ApplyToml(path);  // an Error names the file and line of a key it does not know
  return m;
}

}  // namespace muchator
