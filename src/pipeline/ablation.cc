// The paper's ablation tables on a finished run of the main job (pipeline/ablation.h):
//   Table 3  every system on the same held-out requests: popularity, BM25, BM25 + ranking-model
//            rerank (the paper's online search baseline), the pre-trained model zero-shot and
//            few-shot, SFT only (no music pre-training), RAG (BM25 candidates in the prompt, then
//            SFT), pre-training + SFT, full (+ GRPO)
//   Table 4  the training recipe: SFT only, pre-training + SFT, + RL
//   Table 5  the knowledge benchmarks of every curriculum stage beside one mixed phase (the four
//            corpora shuffled together for the curriculum's total steps)
//   Table 6  user context of behaviour pre-training (stage 3) -> U2I perplexity
//   Table 7  the hybrid reward without relevance, without personalisation, without the rules
//   codecs   beyond the paper: the item codecs (title / atomic / semantic) side by side, each
//            pre-trained (stages 1-3 from the run's general-text checkpoint) and tuned as the run

#include "pipeline/ablation.h"

#include <cctype>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "core/rng.h"
#include "core/step_cache.h"
#include "data/store.h"
#include "eval/baselines.h"
#include "eval/flags.h"
#include "eval/knowledge.h"
#include "eval/report.h"
#include "model/qwen3.h"
#include "pipeline/benchmark_step.h"
#include "pipeline/corpus_step.h"
#include "pipeline/flags.h"
#include "pipeline/grpo_step.h"
#include "pipeline/main_job_options.h"
#include "pipeline/sft_step.h"
#include "text/tokenizer.h"
#include "train/train_flags.h"
#include "train/trainer.h"
#include "world/oracle.h"

namespace muchator {
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

// Table 7's rows: the paper's hybrid reward with one part left out (the main job's GRPO, whose
// default reward is the served one since 2026-12-07, is not among them; docs/rl.md).
struct RewardVariant {
  const char* label;
  const char* slug;
  const char* rewards;
};
constexpr RewardVariant kTable7[] = {
    {"full hybrid reward", "full", "rel_pers=1,format=0.2,fact=0.2,div=0.2,dedup=0.2"},
    {"w/o relevance", "no_relevance", "pers=1,format=0.2,fact=0.2,div=0.2,dedup=0.2"},
    {"w/o personalisation", "no_personalisation", "rel=1,format=0.2,fact=0.2,div=0.2,dedup=0.2"},
    {"w/o rules", "no_rules", "rel_pers=1"},
};

// What a variant's cache stamp adds about the run: the key of the run's SFT step (RUN/steps,
// core/step_cache.h), which chains every step before it (world, data, tokenizer, corpora,
// pre-training, reward models), so variants of an earlier configuration of the run are retrained.
// Empty for a run whose steps were run as separate commands.
std::string RunKey(const std::string& run) {
  const std::string sft = run + "/steps/sft.done";
  return FileExists(sft) ? "run=" + Sha256Hex(ReadFile(sft)) + "\n" : "";
}

// A variant's training is skipped when `dir` holds a finished model trained with the same
// `config` from the same run (the stamp is written last, after the model), so a re-run of
// `ablate` only evaluates.
bool Cached(const std::string& run, const std::string& dir, const std::string& model_dir,
            const std::string& config) {
  const std::string stamp = dir + "/ablate.stamp";
  return FileExists(stamp) && FileExists(model_dir + "/model.safetensors") &&
         ReadFile(stamp) == config + RunKey(run);
}
void WriteStamp(const std::string& run, const std::string& dir, const std::string& config) {
  WriteFileAtomic(dir + "/ablate.stamp", config + RunKey(run));
}

// One invocation of `ablate`: the options and the tables, each a method (kTables names them).
class Ablation {
 public:
  explicit Ablation(AblationOptions o) : o_(std::move(o)) {}
  int Table3() { return SystemsTable(true); }
  int Table4() { return SystemsTable(false); }

  void Need(std::initializer_list<std::string> paths, const std::string& what_to_do) const {
    for (const std::string& need : paths)
      if (!FileExists(need))
        throw Error("the run has no " + need.substr(o_.run.size() + 1), need, what_to_do);
  }

  // The evaluation report of `o` into o_.out/<stem>/ (stem: table<N>, or the table's name), with
  // the table's own Markdown: `intro` above the report's table.
  // `paired`: a base system and those compared with it over the same requests (paired bootstrap,
  // PairedComparisons), in the JSON's "paired" and a second table; empty = none.
  void WriteTable(const std::string& n, ReportOptions o, const std::string& intro,
                  nlohmann::json extra,
                  const std::pair<std::string, std::vector<std::string>>& paired = {}) {
    const std::string stem = std::isdigit(static_cast<unsigned char>(n[0])) ? "table" + n : n,
                      path = o_.out + "/" + stem;
    const RunLayout run = ReadRunLayout(o_.run);
    o.store = run.store;
    o.world_dir = run.world;
    o.judge_dir = run.judge;
    o.ranker_dir = run.ranker;
    o.requests = static_cast<int>(o_.requests);
    // The tables compare training recipes on the model's own lists: no ranking-model reranking
    // (the main job's report has that mode).
    o.eval.rerank_pool = 0;
    const nlohmann::json report = RunReport(o, path);
    extra["table"] = n;
    extra["run"] = o_.run;
    extra["report"] = report;
    std::string md = intro + "\n\n" + std::to_string(report["requests"].get<int64_t>()) +
                     " held-out test requests; metrics in docs/metrics.md.\n\n" +
                     ReportTable(report);
    if (!paired.first.empty()) {
      nlohmann::json pairs = nlohmann::json::array();
      md += "\n## Each against the " + paired.first +
            ", paired over the same requests\n\n| system | decoding | metric | mean | 95% "
            "interval | excludes 0 |\n|---|---|---|---:|---|---|\n";
      for (const auto& system : paired.second) {
        for (const auto& p : PairedComparisons(report["rows"], paired.first, system)) {
          md += "| " + system + " " + PairedRowMarkdown(p);
          pairs.push_back(p);
        }
      }
      extra["paired"] = pairs;
    }
    WriteFileAtomic(path + ".json", extra.dump(2) + "\n");
    WriteFileAtomic(path + ".md", md);
    std::printf("%s\nwrote %s.json and %s.md\n", md.c_str(), path.c_str(), path.c_str());
  }

  // SFT as the main job runs it (its step 7), with --sft-steps when given.
  SftOptions RunSftOptions() const {
    SftOptions so;
    so.train.steps = o_.sft_steps > 0 ? o_.sft_steps : MainJobOptions::OfRun(o_.run).sft_steps;
    so.train.eval_every = so.train.ckpt_every = so.train.steps;
    so.train.warmup_steps = std::max<int64_t>(1, so.train.steps / 10);
    so.train.bf16 = MainJobOptions::OfRun(o_.run).bf16;
    so.train.seed = static_cast<uint64_t>(o_.seed);
    so.replay_corpus = o_.run + "/corpus";
    return so;
  }

  // The item codecs side by side: each codec's corpus from the run's store and tokenizer, music
  // pre-training stages 1-3 from the run's general-text (stage 0) checkpoint - its vocabulary
  // grown by the codec's item tokens - then SFT on the run's triplets; the run's own codec is
  // the run's SFT model (the same recipe). Each SFT model answers the same requests.
  int Codecs() {
    const std::string base = o_.run + "/pretrain/stage0_general/final",
                      triplets = o_.run + "/uq2i/triplets.jsonl";
    Need({o_.run + "/store.sqlite", o_.run + "/tokenizer/tokenizer.json",
          o_.run + "/corpus/corpus_summary.json", base + "/model.safetensors", triplets,
          o_.run + "/sft/sft/final/model.safetensors"},
         "run the main job first (`muchator pipeline --out " + o_.run +
             "` with --pretrain-steps and --sft-steps > 0)");
    const std::string run_codec = json::parse(ReadFile(o_.run + "/corpus/corpus_summary.json"))
                                      .at("codec")
                                      .get<std::string>();
    const SftOptions so = RunSftOptions();
    TrainOptions to;  // as the main job's step 5
    to.steps =
        o_.pretrain_steps > 0 ? o_.pretrain_steps : MainJobOptions::OfRun(o_.run).pretrain_steps;
    to.bf16 = so.train.bf16;
    to.seed = static_cast<uint64_t>(o_.seed);
    to.warmup_steps = std::max<int64_t>(1, to.steps / 10);
    to.eval_every = to.ckpt_every = std::max<int64_t>(1, to.steps / 2);
    Store store(o_.run + "/store.sqlite");
    ReportOptions ro;
    ro.baselines = {};
    nlohmann::json rows = nlohmann::json::array();
    for (const std::string codec : {"title", "atomic", "semantic"}) {
      nlohmann::json row = {{"codec", codec}};
      std::string model;
      const std::string dir = o_.out + "/codecs/" + codec;
      if (codec == run_codec) {
        model = o_.run + "/sft/sft/final";
        row["reused"] = model;
      } else {
        model = dir + "/sft/sft/final";
        const std::string config = "init=" + base + "\npretrain_steps=" + std::to_string(to.steps) +
                                   "\nsft_steps=" + std::to_string(so.train.steps) +
                                   "\nseed=" + std::to_string(o_.seed) + "\n";
        if (Cached(o_.run, dir, model, config)) {
          spdlog::info("codec {}: reusing {}", codec, model);
          row["reused"] = model;
        } else {
          spdlog::info("codec {}: corpus, pre-training stages 1-3 ({} steps each) and SFT into {}",
                       codec, to.steps, dir);
          CorpusOptions co;
          co.seed = static_cast<uint64_t>(o_.seed);
          RunCorpus(o_.run + "/store.sqlite", o_.run + "/tokenizer", codec, dir + "/corpus", co);
          const auto results = RunCurriculum(
              dir + "/corpus", {"stage1_objective", "stage2_subjective", "stage3_behaviour"},
              /*mixed=*/false, dir + "/pretrain", base, "", to, /*resume=*/false);
          row["stage3_train_loss"] = results.back().final_loss;
          SftOptions codec_so = so;
          codec_so.replay_corpus = dir + "/corpus";  // written with this codec's tokenizer
          RunSft(store, dir + "/pretrain/stage3_behaviour/final", triplets, dir + "/sft", nullptr,
                 codec_so, {}, /*check_before=*/false);
          WriteStamp(o_.run, dir, config);
        }
      }
      row["checkpoint"] = model;
      row["vocab_size"] = Tokenizer::Load(model + "/tokenizer.json")->vocab_size();
      ro.checkpoints.emplace_back(codec, model);
      rows.push_back(row);
    }
    WriteTable("codecs", ro,
               "Item codecs: music pre-training (stages 1-3, " + std::to_string(to.steps) +
                   " steps each, from the run's stage-0 checkpoint) and SFT (" +
                   std::to_string(so.train.steps) + " steps) with each codec; the run's codec (" +
                   run_codec + ") is the run's own SFT model.",
               {{"codecs", rows}});
    return 0;
  }

  // Table 5: one mixed pre-training phase - the four corpora shuffled together for as many steps
  // as the curriculum's four stages took, from scratch, with the run's model size - then the
  // knowledge benchmarks of every checkpoint of the run with it (`benchmark --run`, into
  // RUN/benchmarks, where the run report reads Table 5).
  int Table5() {
    Need({o_.run + "/store.sqlite", o_.run + "/corpus/corpus_summary.json",
          o_.run + "/pretrain/stage3_behaviour/final/model.safetensors"},
         "run the main job first (`muchator pipeline --out " + o_.run +
             "`, with --pretrain-steps > 0)");
    TrainOptions to;  // as the main job's step 5, for the four stages' steps together
    // Stages 1-3 at --pretrain-steps each, plus the general stage's own count (as the main job's,
    // MainJobGeneralSteps).
    const int64_t per_stage =
        o_.pretrain_steps > 0 ? o_.pretrain_steps : MainJobOptions::OfRun(o_.run).pretrain_steps;
    const int64_t general = MainJobOptions::OfRun(o_.run).general_steps;
    to.steps = 3 * per_stage + MainJobGeneralSteps(general, per_stage);
    to.bf16 = MainJobOptions::OfRun(o_.run).bf16;
    to.seed = static_cast<uint64_t>(o_.seed);
    to.warmup_steps = std::max<int64_t>(1, to.steps / 10);
    to.eval_every = to.ckpt_every = std::max<int64_t>(1, to.steps / 2);
    const std::string dir = o_.out + "/table5", mixed = dir + "/mixed/final";
    const std::string model_size = MainJobOptions::OfRun(o_.run).model_size;
    const std::string config = "steps=" + std::to_string(to.steps) +
                               "\nseed=" + std::to_string(o_.seed) + "\nmodel_size=" + model_size +
                               "\n";
    if (Cached(o_.run, dir, mixed, config)) {
      spdlog::info("table 5: reusing {}", mixed);
    } else {
      spdlog::info("table 5: mixed pre-training ({} steps, {} model) into {}", to.steps, model_size,
                   dir);
      RunCurriculum(o_.run + "/corpus", {kStages.begin(), kStages.begin() + 4}, /*mixed=*/true, dir,
                    "", model_size, to, /*resume=*/false);
      WriteStamp(o_.run, dir, config);
    }
    BenchmarkSpec spec;
    spec.store = o_.run + "/store.sqlite";
    if (FileExists(o_.run + "/world/oracle/world.json")) spec.world = o_.run + "/world";
    spec.corpus = o_.run + "/corpus";
    spec.checkpoints = BenchmarkCheckpointsOfRun(o_.run, mixed);
    spec.per_kind = static_cast<int>(o_.per_kind);
    spec.seed = static_cast<uint64_t>(o_.seed);
    spec.out = o_.run + "/benchmarks";
    const std::string md = RunBenchmark(spec);
    std::printf(
        "Table 5: the curriculum's stages and the mixed phase (%lld steps)\n\n%s\nwrote "
        "%s/knowledge.json and %s/knowledge.md\n",
        static_cast<long long>(to.steps), md.c_str(), spec.out.c_str(), spec.out.c_str());
    return 0;
  }

  // Tables 3 and 4: the systems side by side (Table 4 is the training-recipe subset).
  int SystemsTable(bool all) {
    const std::string n = all ? "3" : "4", base = o_.run + "/pretrain/stage0_general/final",
                      pretrained = o_.run + "/pretrain/stage3_behaviour/final",
                      triplets = o_.run + "/uq2i/triplets.jsonl";
    const std::string todo = "run the main job first (`muchator pipeline --out " + o_.run +
                             "` with --pretrain-steps and --sft-steps > 0)";
    Need({o_.run + "/store.sqlite", base + "/model.safetensors", pretrained + "/model.safetensors",
          triplets, o_.run + "/sft/sft/final/model.safetensors"},
         todo);
    Store store(o_.run + "/store.sqlite");
    const SftOptions so = RunSftOptions();
    const Catalog catalog = Catalog::FromCodecFile(pretrained + "/codec.json");
    // SFT's held-out users are not shown as examples either.
    const std::function<bool(const std::string&)> trained_user = [&](const std::string& user) {
      return HashString(user) % 100 >= static_cast<uint64_t>(so.heldout_users_percent);
    };
    const auto retrieve = RetrievedCandidates({&store, &catalog, nullptr}, o_.rag_candidates);
    // Trains one SFT variant unless cached; returns its final checkpoint.
    auto sft = [&](const std::string& slug, const std::string& init, bool rag) {
      const std::string dir = o_.out + "/table3/" + slug, final = dir + "/sft/final";
      const std::string config = "init=" + init + "\nsteps=" + std::to_string(so.train.steps) +
                                 "\nseed=" + std::to_string(o_.seed) + "\nrag_candidates=" +
                                 (rag ? std::to_string(o_.rag_candidates) : "0") + "\n";
      if (Cached(o_.run, dir, final, config)) {
        spdlog::info("{}: reusing {}", slug, final);
        return final;
      }
      spdlog::info("{}: SFT ({} steps) from {} into {}", slug, so.train.steps, init, dir);
      SftOptions o = so;
      if (rag) o.extras = retrieve;
      RunSft(store, init, triplets, dir, nullptr, o, {}, /*check_before=*/false);
      WriteStamp(o_.run, dir, config);
      return final;
    };
    ReportOptions ro;
    ro.baselines = {};
    nlohmann::json systems = nlohmann::json::array();
    auto add = [&](const std::string& name, const std::string& dir, const std::string& what) {
      ro.checkpoints.emplace_back(name, dir);
      systems.push_back({{"system", name}, {"checkpoint", dir}, {"what", what}});
    };
    if (all) {
      ro.baselines = {"popularity", "bm25", "dense"};
      ro.triplets = triplets;
      if (FileExists(o_.run + "/ranker/ranker.json"))
        ro.baselines.insert(ro.baselines.end(), {"bm25_rerank", "dense_rerank"});
      add("zero_shot", pretrained, "the music pre-trained model, prompted with the request alone");
      add("few_shot", pretrained,
          "the same, with " + std::to_string(o_.few_shot) + " worked examples before the request");
      PromptExtras examples;
      examples.examples = FewShotExamples(triplets, catalog, static_cast<int>(o_.few_shot),
                                          static_cast<int>(o_.few_shot_items),
                                          static_cast<uint64_t>(o_.seed), trained_user);
      ro.extras["few_shot"] = [examples](const EvalRequest&) { return examples; };
    }
    add("sft_only", sft("sft_only", base, false),
        "SFT of the general-text model (stage 0, no music pre-training)");
    if (all) {
      add("rag", sft("rag", pretrained, true),
          "SFT of the pre-trained model with BM25's best " + std::to_string(o_.rag_candidates) +
              " songs in every prompt, answering with them");
      ro.extras["rag"] = [&retrieve](const EvalRequest& r) { return retrieve(r); };
      // The same model made to choose among the candidates only: the LLM as the reranker of
      // the search system's list.
      add("rag_rerank", ro.checkpoints.back().second,
          "the RAG model, its constrained answer limited to the " +
              std::to_string(o_.rag_candidates) + " candidates in its prompt");
      ro.extras["rag_rerank"] = ro.extras["rag"];
      ro.only_candidates.insert("rag_rerank");
    }
    add("pt_sft", o_.run + "/sft/sft/final", "the run's SFT of the music pre-trained model");
    if (FileExists(o_.run + "/grpo/grpo/final/model.safetensors"))
      add("full", o_.run + "/grpo/grpo/final", "the run's GRPO model (pre-training + SFT + RL)");
    else
      spdlog::warn("the run has no GRPO model: the table has no +RL row");
    const std::string intro =
        all ? "Table 3: every system on the same requests (SFT-only and RAG trained " +
                  std::to_string(so.train.steps) + " steps on the run's UQ2I triplets)."
            : "Table 4: the training recipe - SFT only (" + std::to_string(so.train.steps) +
                  " steps from the general-text model), music pre-training + SFT, + RL.";
    WriteTable(n, ro, intro,
               {{"systems", systems},
                {"sft_steps", so.train.steps},
                {"few_shot", o_.few_shot},
                {"rag_candidates", o_.rag_candidates}});
    return 0;
  }

  // Table 7: GRPO from the run's SFT model with one part of the hybrid reward left out.
  int Table7() {
    const std::string sft = o_.run + "/sft/sft/final";
    const std::string todo = "run the main job first (`muchator pipeline --out " + o_.run +
                             "` with --sft-steps > 0; both reward models are needed)";
    Need({o_.run + "/store.sqlite", sft + "/model.safetensors", o_.run + "/judge/judge.json",
          o_.run + "/ranker/ranker.json"},
         todo);
    const int64_t run_steps = MainJobOptions::OfRun(o_.run).grpo_steps,
                  steps = o_.grpo_steps > 0 ? o_.grpo_steps : run_steps;
    GrpoRunOptions go;
    go.grpo.steps = steps;
    go.grpo.constrained = MainJobOptions::OfRun(o_.run).grpo_constrained;
    go.grpo.train.seed = static_cast<uint64_t>(o_.seed);
    go.grpo.advantage = "list";  // the paper's GRPO: one run, list-level advantages
    go.runs = 1;
    go.judge_dir = o_.run + "/judge";
    go.ranker_dir = o_.run + "/ranker";
    if (FileExists(o_.run + "/world/oracle/world.json")) go.world_dir = o_.run + "/world";
    go.eval_requests = 0;  // the table's report evaluates every variant on the same requests
    Store store(o_.run + "/store.sqlite");
    ReportOptions ro;
    ro.baselines = {};
    ro.checkpoints.emplace_back("sft (before RL)", sft);
    nlohmann::json rows = nlohmann::json::array();
    for (const RewardVariant& v : kTable7) {
      const std::string dir = o_.out + "/table7/" + v.slug, final = dir + "/grpo/final";
      std::string model = final;
      nlohmann::json row = {{"variant", v.label}, {"rewards", v.rewards}, {"steps", steps}};
      const std::string config = "init=" + sft + "\nsteps=" + std::to_string(steps) +
                                 "\nseed=" + std::to_string(o_.seed) + "\nrewards=" + v.rewards +
                                 "\nconstrained=" + std::to_string(go.grpo.constrained) +
                                 "\nadvantage=" + go.grpo.advantage + "\n";
      if (Cached(o_.run, dir, final, config)) {
        spdlog::info("{}: reusing {}", v.label, final);
        row["reused"] = final;
      } else {
        spdlog::info("table 7 {}: GRPO {} steps with rewards {} into {}", v.label, steps, v.rewards,
                     dir);
        GrpoRunOptions o = go;
        o.grpo.rewards = v.rewards;
        row["training"] = RunGrpo(store, sft, dir, o)["training"];
        WriteStamp(o_.run, dir, config);
      }
      row["checkpoint"] = model;
      ro.checkpoints.emplace_back(v.label, model);
      rows.push_back(row);
    }
    WriteTable("7", ro,
               "Table 7: GRPO (" + std::to_string(steps) +
                   " steps from the run's SFT model) with each part of the hybrid reward left "
                   "out; the SFT model before RL for reference.",
               {{"variants", rows}},
               {kTable7[0].label, {kTable7[1].label, kTable7[2].label, kTable7[3].label}});
    return 0;
  }

  int Table6() {
    const std::string store = o_.run + "/store.sqlite",
                      start = o_.run + "/pretrain/stage2_subjective/final";
    Need({store, o_.run + "/tokenizer/tokenizer.json", o_.run + "/corpus/corpus_summary.json",
          start + "/model.safetensors"},
         "run the main job first (`muchator pipeline --out " + o_.run +
             "`, with --pretrain-steps > 0)");
    const std::string codec = json::parse(ReadFile(o_.run + "/corpus/corpus_summary.json"))
                                  .at("codec")
                                  .get<std::string>();
    TrainOptions to;
    to.steps = o_.steps;
    to.batch_size = o_.batch;
    to.seq_len = o_.seq_len;
    to.seed = static_cast<uint64_t>(o_.seed);
    to.warmup_steps = std::max<int64_t>(1, o_.steps / 10);  // as the main job's stages
    to.eval_every = to.ckpt_every = o_.steps;
    json rows = json::array();
    int k = 0;
    for (const ContextVariant& v : kTable6) {
      const auto t0 = std::chrono::steady_clock::now();
      const std::string dir = o_.out + "/table6/" + v.slug;
      spdlog::info("table 6 variant {}/{}: {} ({})", ++k, std::size(kTable6), v.label, dir);
      CorpusOptions co;
      co.seed = static_cast<uint64_t>(o_.seed);
      co.drop_profile = !v.profile;
      co.drop_history = !v.history;
      co.drop_state = !v.state;
      co.drop_feedback = !v.feedback;
      RunCorpus(store, o_.run + "/tokenizer", codec, dir + "/corpus", co);
      if (ReadFile(dir + "/corpus/tokenizer.json") != ReadFile(start + "/tokenizer.json"))
        throw Error("the stage-2 checkpoint's tokenizer differs from the one the corpus grows",
                    start, "ablate a run whose checkpoints came from its own corpus");
      Qwen3ForCausalLM model = LoadModel(start);
      const StageResult r =
          TrainStage(model, dir + "/corpus", {"stage3_behaviour"}, {}, dir, "stage3_behaviour", to,
                     /*resume=*/false, dir + "/corpus/tokenizer.json");
      auto tok = Tokenizer::Load(dir + "/corpus/tokenizer.json");
      const U2iPerplexity u =
          MeasureU2iPerplexity(model, *tok, dir + "/corpus", o_.u2i_docs, o_.u2i_context);
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
    const json report = {{"table", "6"},      {"run", o_.run},  {"start", start},
                         {"steps", o_.steps}, {"codec", codec}, {"rows", rows}};
    WriteFileAtomic(o_.out + "/table6.json", report.dump(2) + "\n");
    std::string md =
        "Table 6: user context in behaviour pre-training (stage 3, " + std::to_string(o_.steps) +
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
    WriteFileAtomic(o_.out + "/table6.md", md);
    std::printf("%s\nwrote %s/table6.json and %s/table6.md\n", md.c_str(), o_.out.c_str(),
                o_.out.c_str());
    return 0;
  }

 private:
  AblationOptions o_;
};

// The tables by name (AblationTableNames' order).
const std::vector<std::pair<std::string, int (Ablation::*)()>> kTables = {
    {"3", &Ablation::Table3}, {"4", &Ablation::Table4}, {"5", &Ablation::Table5},
    {"6", &Ablation::Table6}, {"7", &Ablation::Table7}, {"codecs", &Ablation::Codecs},
};

}  // namespace

const std::vector<std::string>& AblationTableNames() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const auto& [name, table] : kTables) n.push_back(name);
    return n;
  }();
  return names;
}

void AblationOptions::Declare(Options& opts) {
  AddPath(opts, PathFlag::kRun, &run,
          "a pipeline run directory (store, tokenizer, corpus, pretrain/, and for tables 3, 4 "
          "and 7 uq2i/, sft/, judge/, ranker/)")
      .Required();
  opts.Add("table", &table,
           "which table: 3 (all systems), 4 (training recipe), 5 (curriculum vs mixed "
           "pre-training on the knowledge benchmarks), 6 (user context -> U2I "
           "perplexity), 7 (reward parts), codecs (title / atomic / semantic item codecs)")
      .OneOf(AblationTableNames());
  AddOut(opts, &out,
         "output directory (default RUN/ablate): table<N>.json, table<N>.md and table<N>/ "
         "(each trained variant; the evaluation report of tables 3, 4 and 7)");
  opts.Add(kRequestsFlag, &requests,
           "tables 3, 4, 7: held-out test requests every system answers (as the main job's "
           "report)")
      .Range(1, 1e9);
  opts.Add(kSftStepsFlag, &sft_steps,
           "tables 3, 4: SFT steps of the SFT-only and RAG systems (0 = the run's --sft-steps)");
  opts.Add("few-shot", &few_shot,
           "table 3: worked examples (request -> songs, from the run's UQ2I triplets) in the "
           "few-shot prompt")
      .Range(1, 100);
  opts.Add("few-shot-items", &few_shot_items, "table 3: songs per few-shot example").Range(1, 100);
  opts.Add("rag-candidates", &rag_candidates,
           "table 3: BM25 candidates listed in each RAG prompt (training and answering)")
      .Range(1, 1000);
  opts.Add(kPretrainStepsFlag, &pretrain_steps,
           "codecs, 5: steps of each pre-training stage (0 = the run's --pretrain-steps; the "
           "mixed phase of table 5 takes 4x)");
  opts.Add(kPerKindFlag, &per_kind, "table 5: benchmark questions of each kind");
  opts.Add(kGrpoStepsFlag, &grpo_steps,
           "table 7: GRPO steps of every variant, the full reward's too (0 = the run's "
           "--grpo-steps)");
  opts.Add(kStepsFlag, &steps,
           "table 6: stage-3 training steps of every variant (the main job's stage 3 takes "
           "--pretrain-steps, 100)");
  opts.Add(kBatchSizeFlag, &batch, "table 6: rows per step");
  opts.Add(kSeqLenFlag, &seq_len, "table 6: tokens per row").Range(16, 1e6);
  opts.Add(kU2iDocsFlag, &u2i_docs,
           "table 6: held-out documents scored per variant (0 = all; without item history each "
           "held-out event is its own document, so the default scores every listener)");
  opts.Add(kU2iContextFlag, &u2i_context,
           "table 6: tokens of each held-out document kept, from its end");
  AddSeed(opts, &seed, "training seed (0 = the run's own --seed)");
}

void AblationOptions::ResolveDefaults() {
  if (out.empty()) out = run + "/ablate";
  // The run's seed by default: a seed-2 run's ablations train as its main job did (and Table 7
  // reuses the run's GRPO model as its full-reward row).
  if (seed == 0) seed = MainJobOptions::OfRun(run).seed;
}

int RunAblationTable(const AblationOptions& options) {
  AblationOptions o = options;
  o.ResolveDefaults();
  MakeDirs(o.out);
  Ablation a(o);
  for (const auto& [name, table] : kTables)
    if (name == o.table) return (a.*table)();
  throw Error("no ablation table '" + o.table + "'", "--table",
              "one of the names AblationTableNames() lists");
}

}  // namespace muchator
