// `muchator ablate`: the paper's ablation tables on a finished run of the main job, reusing its
// checkpoints where the stages are shared. Built so far: Table 6, the user context of behaviour
// pre-training (stage 3) against U2I perplexity.
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "core/threads.h"
#include "eval/knowledge.h"
#include "model/qwen3.h"
#include "text/tokenizer.h"
#include "train/trainer.h"

namespace muchator::cli {
namespace {

using json = nlohmann::json;

// Table 6's rows: the user context written into stage 3, growing one part at a time.
struct ContextVariant {
  const char* label;  // the paper's row name
  const char* slug;   // folder name
  bool profile, history, state, feedback;
};
constexpr ContextVariant kTable6[] = {
    {"none", "none", false, false, false, false},
    {"+profile", "profile", true, false, false, false},
    {"+item", "profile_item", true, true, false, false},
    {"+state", "profile_item_state", true, true, true, false},
    {"+feedback", "full", true, true, true, true},
};

class AblateCommand : public Command {
 public:
  std::string name() const override { return "ablate"; }
  std::string description() const override {
    return "The paper's ablations on a finished run, reusing its checkpoints. --table 6: "
           "behaviour pre-training with growing user context (none, +profile, +item history, "
           "+state, +feedback), each from the run's stage-2 checkpoint, against U2I perplexity";
  }
  void Declare(Options& opts) override {
    opts.Add("run", &run_,
             "a pipeline run directory (store, tokenizer, corpus, pretrain/stage2_subjective)")
        .Required();
    opts.Add("table", &table_, "which table (6: user context -> U2I perplexity)").OneOf({"6"});
    opts.Add("steps", &steps_,
             "stage-3 training steps of every variant (the main job's stage 3 takes "
             "--pretrain-steps, 100)")
        .Range(1, 1e9);
    opts.Add("batch-size", &batch_, "rows per step").Range(1, 1e6);
    opts.Add("seq-len", &seq_len_, "tokens per row").Range(16, 1e6);
    opts.Add("u2i-docs", &u2i_docs_,
             "held-out documents scored per variant (0 = all; without item history each held-out "
             "event is its own document, so the default scores every listener)")
        .Range(0, 1e9);
    opts.Add("u2i-context", &u2i_context_, "tokens of each held-out document kept, from its end")
        .Range(16, 1e7);
    opts.Add("out", &out_,
             "output directory (default RUN/ablate): table6.json, table6.md, "
             "table6/<variant>/ (corpus, stage3_behaviour/final)");
    opts.Add("seed", &seed_, "training seed").Range(0, 9e18);
    opts.Add("threads", &threads_, "compute threads (0 = all cores)").Range(0, 1024);
  }

  int Run(const Options& opts) override {
    SetupThreads(static_cast<int>(threads_));
    if (out_.empty()) out_ = run_ + "/ablate";
    const std::string store = run_ + "/store.sqlite",
                      start = run_ + "/pretrain/stage2_subjective/final";
    for (const std::string& need :
         {store, run_ + "/tokenizer/tokenizer.json", run_ + "/corpus/corpus_summary.json",
          start + "/model.safetensors"})
      if (!FileExists(need))
        throw Error("the run has no " + need.substr(run_.size() + 1), need,
                    "run the main job first (`muchator pipeline --out " + run_ +
                        "`, with --pretrain-steps > 0)");
    const std::string codec =
        json::parse(ReadFile(run_ + "/corpus/corpus_summary.json")).at("codec").get<std::string>();
    MakeDirs(out_);
    opts.WriteEffective(out_ + "/ablate.config.toml");
    TrainOptions to;
    to.steps = steps_;
    to.batch_size = batch_;
    to.seq_len = seq_len_;
    to.seed = static_cast<uint64_t>(seed_);
    to.warmup_steps = std::max<int64_t>(1, steps_ / 10);  // as the main job's stages
    to.eval_every = to.ckpt_every = steps_;
    json rows = json::array();
    int k = 0;
    for (const ContextVariant& v : kTable6) {
      const auto t0 = std::chrono::steady_clock::now();
      const std::string dir = out_ + "/table6/" + v.slug;
      spdlog::info("table 6 variant {}/{}: {} ({})", ++k, std::size(kTable6), v.label, dir);
      CorpusOptions co;
      co.seed = static_cast<uint64_t>(seed_);
      co.drop_profile = !v.profile;
      co.drop_history = !v.history;
      co.drop_state = !v.state;
      co.drop_feedback = !v.feedback;
      RunCorpus(store, run_ + "/tokenizer", codec, dir + "/corpus", co);
      if (ReadFile(dir + "/corpus/tokenizer.json") != ReadFile(start + "/tokenizer.json"))
        throw Error("the stage-2 checkpoint's tokenizer differs from the one the corpus grows",
                    start, "ablate a run whose checkpoints came from its own corpus");
      Qwen3ForCausalLM model = LoadModel(start);
      const StageResult r =
          TrainStage(model, dir + "/corpus", {"stage3_behaviour"}, {}, dir, "stage3_behaviour", to,
                     /*resume=*/false, dir + "/corpus/tokenizer.json");
      auto tok = Tokenizer::Load(dir + "/corpus/tokenizer.json");
      const U2iPerplexity u =
          MeasureU2iPerplexity(model, *tok, dir + "/corpus", u2i_docs_, u2i_context_);
      const double secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      rows.push_back({{"variant", v.label},
                      {"dir", dir},
                      {"profile", v.profile},
                      {"item_history", v.history},
                      {"state", v.state},
                      {"feedback", v.feedback},
                      {"train_loss", r.final_loss},
                      {"u2i", u.ToJson()},
                      {"seconds", secs}});
      spdlog::info("{}: U2I perplexity {:.3f} per item token, {:.0f} s", v.label, u.perplexity,
                   secs);
    }
    const json report = {{"table", 6},      {"run", run_},    {"start", start},
                         {"steps", steps_}, {"codec", codec}, {"rows", rows}};
    WriteFileAtomic(out_ + "/table6.json", report.dump(2) + "\n");
    std::string md =
        "Table 6: user context in behaviour pre-training (stage 3, " + std::to_string(steps_) +
        " steps from the run's stage-2 checkpoint) -> U2I perplexity of the listeners' held-out "
        "last events, per item token (lower is better).\n\n| user context | U2I perplexity | item "
        "tokens scored | stage-3 train loss |\n|---|---:|---:|---:|\n";
    for (const auto& r : rows) {
      char line[256];
      std::snprintf(line, sizeof line, "| %s | %.3f | %lld | %.3f |\n",
                    r["variant"].get<std::string>().c_str(), r["u2i"]["perplexity"].get<double>(),
                    r["u2i"]["item_tokens"].get<long long>(), r["train_loss"].get<double>());
      md += line;
    }
    WriteFileAtomic(out_ + "/table6.md", md);
    std::printf("%s\nwrote %s/table6.json and %s/table6.md\n", md.c_str(), out_.c_str(),
                out_.c_str());
    return 0;
  }

 private:
  std::string run_, out_, table_ = "6";
  int64_t steps_ = 100, batch_ = 8, seq_len_ = 256, u2i_docs_ = 0, u2i_context_ = 256, seed_ = 1,
          threads_ = 0;
};

}  // namespace

std::unique_ptr<Command> MakeAblateCommand() { return std::make_unique<AblateCommand>(); }

}  // namespace muchator::cli
