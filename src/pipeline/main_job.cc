// The main job (pipeline/main_job.h): its nine steps as a table, run by the step cache.
#include "pipeline/main_job.h"

#include <algorithm>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "core/step_cache.h"
#include "corpus/builders.h"
#include "data/ingest.h"
#include "data/store.h"
#include "eval/baselines.h"
#include "eval/report.h"
#include "eval/run_report.h"
#include "infer/checkpoint.h"
#include "infer/engine.h"
#include "model/config.h"
#include "pipeline/corpus_step.h"
#include "pipeline/grpo_step.h"
#include "pipeline/main_job_options.h"
#include "pipeline/samples_step.h"
#include "pipeline/sft_step.h"
#include "reward/judge_train.h"
#include "reward/ranker_train.h"
#include "text/bpe_train.h"
#include "text/chat.h"
#include "text/item_codec.h"
#include "text/special_tokens.h"
#include "text/training_text.h"
#include "train/trainer.h"
#include "world/generate.h"
#include "world/oracle.h"

namespace muchator {

namespace {

namespace fs = std::filesystem;

// A setting that is not an option of the main job (a library default, a content digest), written
// as Options::Setting writes an option's.
template <typename T>
std::string Setting(const char* name, const T& value) {
  if constexpr (std::is_convertible_v<T, std::string>)
    return std::string(name) + " = \"" + std::string(value) + "\"";
  else if constexpr (std::is_same_v<T, bool>)
    return std::string(name) + " = " + (value ? "true" : "false");
  else
    return std::string(name) + " = " + std::to_string(value);
}

class MainJob {
 public:
  explicit MainJob(const MainJobOptions& m) : m_(m) {
    m_.Declare(opts_);
    data_dir_ = m_.input.empty() ? m_.out + "/world" : m_.input;
    world_dir_ = m_.input.empty() ? data_dir_ : "";
    store_ = m_.out + "/store.sqlite";
  }

  int Run();

 private:
  // One step of the main job. Its cache key is the settings of the options kStepOptions lists
  // for it (main_job_options.cc), `extra_key`'s and the key of the step run before it.
  struct Step {
    std::string name;  // RUN/steps/<name>.done
    int number;        // of 10, in the log
    bool can_resume;   // an interrupted run continues from its checkpoint (else starts over)
    // Why the settings or the run so far turn the step off ("" = run it): its outputs go, so the
    // report and `ablate` never take an earlier configuration's results for this run's.
    std::function<std::string()> off = nullptr;
    std::function<std::vector<std::string>()> extra_key = nullptr;
    std::vector<std::string> done_when;  // files a finished step has made
    std::vector<std::string> outputs;    // removed before a fresh run and when turned off
    std::function<std::string()> title;
    std::function<void(bool resume)> body;
    std::function<void()> after = nullptr;  // after the step, made now or cached
  };
  std::vector<Step> Steps();
  // Why the training steps from `level` on are off (0 pretrain, 1 reward models, 2 SFT, 3 GRPO):
  // each needs the ones before it.
  std::string TrainingOff(int level) const;
  // The last pre-training stage trained ("" before pre-training or when none was; stages without
  // documents in the user's data are skipped).
  std::string PretrainedCheckpoint() const;
  void Off(const Step& s, const std::string& why) const;

  // The four pre-training stages, in the curriculum's order.
  static const std::vector<std::string>& PretrainStages() {
    static const std::vector<std::string> stages = {"stage0_general", "stage1_objective",
                                                    "stage2_subjective", "stage3_behaviour"};
    return stages;
  }
  // Step 5: the curriculum general -> objective -> subjective -> behaviour.
  void Pretrain(bool resume) {
    TrainOptions to;
    to.steps = m_.pretrain_steps;
    to.general_steps = MainJobGeneralSteps(m_.general_steps, m_.pretrain_steps);
    // The everyday-language stage learns its associations late (TrainOptions::general_lr).
    to.general_lr = 3e-3;
    to.bf16 = m_.bf16;
    to.seed = static_cast<uint64_t>(m_.seed);
    to.warmup_steps = std::max<int64_t>(1, m_.pretrain_steps / 10);
    to.eval_every = std::max<int64_t>(1, m_.pretrain_steps / 2);
    to.ckpt_every = std::max<int64_t>(1, m_.pretrain_steps / 2);
    for (const StageResult& r :
         RunCurriculum(m_.out + "/corpus", PretrainStages(), false, m_.out + "/pretrain", "",
                       m_.model_size, to, resume)) {
      double own = 0;
      for (auto& [s, l] : r.heldout)
        if (s == r.stage) own = l;
      std::printf("pretrain %s: train loss %.3f, held-out loss of this stage %.3f\n",
                  r.stage.c_str(), r.final_loss, own);
    }
  }

  // Step 10: the evaluation report over the baselines and every checkpoint the run produced.
  void Report() {
    const RunLayout run = ReadRunLayout(m_.out);
    ReportOptions o;
    o.store = store_;
    o.world_dir = world_dir_;
    o.judge_dir = run.judge;
    o.ranker_dir = run.ranker;
    o.triplets = run.triplets;
    if (o.ranker_dir.empty()) o.baselines = {"popularity", "bm25", "dense"};
    o.requests = static_cast<int>(m_.report_requests);
    o.checkpoints = run.checkpoints;
    Store st(store_);
    if (RequestsFromStore(st, o.split, 1).empty()) {
      spdlog::warn(
          "no test-split queries with a user in {}: no evaluation report (docs/metrics.md)",
          store_);
      return;
    }
    RunReport(o, m_.out + "/report");
  }

  // Step 9: GRPO of the SFT checkpoint with the hybrid reward, and the before/after report.
  void Align(bool resume) {
    GrpoRunOptions o;
    o.resume = resume;
    o.grpo.steps = m_.grpo_steps;
    o.runs = static_cast<int>(m_.grpo_runs);
    o.run_process = m_.grpo_run_process;
    o.grpo.constrained = m_.grpo_constrained;
    o.grpo.train.seed = static_cast<uint64_t>(m_.seed);
    // The reward models step 6 could train (with your own data the judge needs labelled queries).
    const bool judge = FileExists(m_.out + "/judge/judge.json"),
               ranker = FileExists(m_.out + "/ranker/ranker.json");
    if (judge) o.judge_dir = m_.out + "/judge";
    if (ranker) o.ranker_dir = m_.out + "/ranker";
    if (!judge || !ranker) {
      const std::string model_reward = judge ? "rel=1," : ranker ? "served=1," : "";
      o.grpo.rewards = model_reward + "format=0.2,fact=0.2,div=0.2,dedup=0.2";
      spdlog::warn("GRPO without the {}: rewards {}",
                   judge    ? "ranking model"
                   : ranker ? "relevance judge"
                            : "reward models",
                   o.grpo.rewards);
    }
    o.world_dir = world_dir_;
    Store st(store_);
    if (LoadRlRequests(st, o.heldout_percent).train.empty()) {
      spdlog::warn(
          "no RL-split queries with a user in {}: GRPO skipped (mark queries \"split\": \"rl\", "
          "docs/rl.md)",
          store_);
      return;
    }
    const nlohmann::json r = RunGrpo(st, m_.out + "/sft/sft/final", m_.out + "/grpo", o);
    const nlohmann::json& t = r["training"];
    if (t.contains("last"))  // absent when a resumed run 0 had nothing left to do
      std::printf("grpo: %lld steps, reward %.3f -> %.3f%s\n", t["steps"].get<long long>(),
                  t["first"]["reward_mean"].get<double>(), t["last"]["reward_mean"].get<double>(),
                  o.runs > 1
                      ? (" (run 1 of " + std::to_string(o.runs) + "; the runs merged)").c_str()
                      : "");
  }
  // Step 6: the ranking model, with the oracle's comparisons when the data is the synthetic world.
  void RankingModel() {
    std::unique_ptr<world::Oracle> oracle;
    if (!world_dir_.empty())
      oracle = std::make_unique<world::Oracle>(world::Oracle::Load(world_dir_));
    Store st(store_);
    RankerTrainOptions ro;
    ro.epochs = m_.ranker_epochs;
    ro.seed = static_cast<uint64_t>(m_.seed);
    RankerReport rr;
    Ranker ranker = TrainRanker(st, ro, oracle.get(), &rr);
    ranker.Save(m_.out + "/ranker", ToJson(rr));
    WriteFileAtomic(m_.out + "/ranker/ranker_report.json", ToJson(rr).dump(2) + "\n");
    std::printf("ranker: held-out like-vs-skip AUC %.3f", rr.like_vs_skip_auc);
    if (rr.oracle)
      std::printf(" (oracle %.3f), Spearman with oracle utility %.3f", rr.oracle->like_vs_skip_auc,
                  rr.oracle->spearman);
    std::printf("\n");
  }

  // The fine-tuned yes/no judge from the pre-trained checkpoint `ckpt` (--judge-kind yesno, and
  // the fallback when the generative one cannot be built).
  void TrainYesNoJudge(Store& st, const world::Oracle* oracle, const std::string& ckpt) {
    JudgeTrainOptions jo;
    jo.init = ckpt;
    jo.layers = m_.judge_layers;
    jo.train.lr = 2e-3;
    jo.train.steps = m_.judge_steps;
    jo.train.eval_every = jo.train.ckpt_every = m_.judge_steps;
    jo.train.warmup_steps = std::max<int64_t>(1, m_.judge_steps / 10);
    jo.train.bf16 = m_.bf16;
    jo.train.seed = jo.labels.seed = static_cast<uint64_t>(m_.seed);
    try {
      PrintJudge(TrainJudge(st, oracle, jo, m_.out + "/judge"));
    } catch (const Error& e) {
      // User data without labelled queries: the ranking model is still useful on its own.
      spdlog::warn("relevance judge not trained: {}", FormatError(e));
    }
  }
  static void PrintJudge(const JudgeReport& jr) {
    if (jr.heldout)
      std::printf("judge (%s): held-out accuracy %.3f, F1 %.3f, AUC %.3f (threshold %.3f)\n",
                  jr.kind.value_or("yesno").c_str(), jr.heldout->accuracy, jr.heldout->f1,
                  jr.heldout->auc, jr.threshold);
  }

  // Step 7: UQ2I triplets and SFT of the pre-trained model on them.
  void InstructionTuning(const std::string& ckpt) {
    std::unique_ptr<world::Oracle> oracle;
    if (!world_dir_.empty())
      oracle = std::make_unique<world::Oracle>(world::Oracle::Load(world_dir_));
    Store st(store_);
    SynthRunOptions syn;
    syn.pool.seed = syn.uq2i.seed = static_cast<uint64_t>(m_.seed);
    const nlohmann::json s =
        RunUq2iSynthesis(st, ckpt, m_.out + "/ranker", oracle.get(), m_.out + "/uq2i", syn);
    std::printf("uq2i: %s\n", Uq2iSummaryLine(s).c_str());
    SftOptions so;
    so.train.steps = m_.sft_steps;
    so.train.eval_every = so.train.ckpt_every = m_.sft_steps;
    so.train.warmup_steps = std::max<int64_t>(1, m_.sft_steps / 10);
    so.train.bf16 = m_.bf16;
    so.train.seed = static_cast<uint64_t>(m_.seed);
    so.replay_corpus = m_.out + "/corpus";
    const SftReport report = RunSft(st, ckpt, m_.out + "/uq2i/triplets.jsonl", m_.out + "/sft",
                                    oracle.get(), so, {}, /*check_before=*/false);
    auto constrained_rel = [](const OfflineEvaluation& e) {
      return e.constrained && e.constrained->oracle ? e.constrained->oracle->relevance_at_10 : 0.0;
    };
    if (report.after)
      std::printf(
          "sft, constrained answers: oracle relevance@10 %.3f on held-out pairs, %.3f on test "
          "queries\n",
          constrained_rel(report.after->heldout_pairs),
          constrained_rel(report.after->test_queries));
  }

  // Step 8: the relevance judge - the generative one from the SFT checkpoint (--judge-kind prf:
  // with a song space trained on the training queries and the UQ2I triplets; pmi), or the yes/no
  // judge fine-tuned from the pre-trained checkpoint (yesno, and the fallback when the generative
  // one cannot be built).
  void BuildJudge() {
    std::unique_ptr<world::Oracle> oracle;
    if (!world_dir_.empty())
      oracle = std::make_unique<world::Oracle>(world::Oracle::Load(world_dir_));
    Store st(store_);
    if (m_.judge_kind == "yesno") return TrainYesNoJudge(st, oracle.get(), PretrainedCheckpoint());
    try {
      JudgeLabelOptions lo;
      lo.seed = static_cast<uint64_t>(m_.seed);
      GenerativeJudgeOptions go;
      go.dense.seed = go.played.seed = lo.seed;
      if (FileExists(m_.out + "/ranker/ranker.json")) go.ranker = m_.out + "/ranker";
      if (m_.judge_kind == "pmi")
        go.feedback_songs = 0;
      else if (FileExists(m_.out + "/uq2i/triplets.jsonl"))
        go.extra_pairs = TripletPairs(m_.out + "/uq2i/triplets.jsonl");
      PrintJudge(BuildGenerativeJudge(st, oracle.get(), m_.out + "/sft/sft/final", lo,
                                      m_.out + "/judge", go));
    } catch (const Error& e) {
      spdlog::warn("generative judge not built ({}): training the yes/no judge instead",
                   FormatError(e));
      fs::remove_all(m_.out + "/judge");
      TrainYesNoJudge(st, oracle.get(), PretrainedCheckpoint());
    }
  }

  MainJobOptions m_;
  Options opts_;  // m_'s declarations: the steps' keys and the effective configuration
  std::string data_dir_, world_dir_, store_;
};

std::string MainJob::TrainingOff(int level) const {
  if (m_.pretrain_steps == 0) return "--pretrain-steps 0";
  if (level >= 1 && PretrainedCheckpoint().empty()) return "no pre-trained checkpoint";
  if (level >= 2 && m_.sft_steps == 0) return "--sft-steps 0";
  if (level >= 3 && m_.grpo_steps == 0) return "--grpo-steps 0";
  return "";
}

std::string MainJob::PretrainedCheckpoint() const {
  std::string ckpt;
  for (const std::string& s : PretrainStages())
    if (FileExists(m_.out + "/pretrain/" + s + "/final/DONE"))
      ckpt = m_.out + "/pretrain/" + s + "/final";
  return ckpt;
}

void MainJob::Off(const Step& s, const std::string& why) const {
  StepCache(m_.out).Forget(s.name);
  for (const std::string& p : s.outputs)
    if (fs::exists(p)) {
      spdlog::warn("removing {} ({})", p, why);
      fs::remove_all(p);
    }
}

std::vector<MainJob::Step> MainJob::Steps() {
  const std::string out = m_.out;
  std::vector<Step> steps;
  steps.push_back({.name = "world",
                   .number = 1,
                   .can_resume = false,
                   .off =
                       [this] {
                         return m_.input.empty()
                                    ? ""
                                    : "--input: the run's data is yours, not a synthetic world";
                       },
                   .extra_key =
                       [this] {
                         return m_.world_input.empty()
                                    ? std::vector<std::string>{}
                                    : std::vector<std::string>{Setting("world-input-sha256",
                                                                       DigestTree(m_.world_input))};
                       },
                   .done_when = {data_dir_ + "/oracle/world.json"},
                   .outputs = {out + "/world"},
                   .title =
                       [this] {
                         return "generating the " + m_.world_preset + " " + m_.world_catalog +
                                " world into " + data_dir_;
                       },
                   .body =
                       [this](bool) {
                         world::WorldConfig c = world::WorldConfig::ForSize(m_.world_preset);
                         c.seed = static_cast<uint64_t>(m_.seed);
                         c.catalog = m_.world_catalog;
                         c.catalog_input = m_.world_input;
                         if (m_.world_songs) c.songs = m_.world_songs;
                         if (m_.world_users) c.users = m_.world_users;
                         if (m_.world_events) c.events = m_.world_events;
                         if (m_.world_queries) c.queries = m_.world_queries;
                         world::GenerateStats st;
                         world::Generate(c, data_dir_, &st);
                         spdlog::info("world: {} songs, {} users, {} events in {:.1f} s", st.songs,
                                      st.users, st.events, st.seconds);
                       }});
  // With --input the key holds the data's content digest: edited data is ingested again.
  steps.push_back(
      {.name = "ingest",
       .number = 2,
       .can_resume = false,
       .extra_key =
           [this] {
             return m_.input.empty()
                        ? std::vector<std::string>{}
                        : std::vector<std::string>{Setting("input-sha256", DigestTree(m_.input))};
           },
       .done_when = {store_},
       .outputs = {store_, store_ + "-wal", store_ + "-shm", store_ + ".ingest.json",
                   store_ + ".quarantine.jsonl"},
       .title = [this] { return "ingesting " + data_dir_ + " into " + store_; },
       .body =
           [this](bool) {
             IngestSummary s = Ingest({data_dir_, store_, "", false});
             WriteFileAtomic(store_ + ".ingest.json", s.ToJson().dump(2) + "\n");
             std::fputs(s.Table().c_str(), stdout);
             if (s.quarantined() > 0)
               spdlog::warn("{} rows quarantined: see {}", s.quarantined(), s.quarantine_path);
           }});
  steps.push_back({.name = "tokenizer",
                   .number = 3,
                   .can_resume = false,
                   .done_when = {out + "/tokenizer/tokenizer.json"},
                   .outputs = {out + "/tokenizer"},
                   .title = [out] { return "training the tokenizer into " + out + "/tokenizer"; },
                   .body =
                       [this](bool) {
                         Store st(store_);
                         BpeTrainOptions bo;
                         bo.vocab_size = static_cast<int>(m_.vocab_size);
                         bo.special_tokens = BaseSpecialTokens();
                         auto tok =
                             TrainBpe([&](const auto& emit) { ForEachTrainingText(st, emit); }, bo);
                         MakeDirs(m_.out + "/tokenizer");
                         tok->SaveHf(m_.out + "/tokenizer/tokenizer.json");
                       }});
  steps.push_back(
      {.name = "corpus",
       .number = 4,
       .can_resume = false,
       .done_when = {out + "/corpus/corpus_summary.json"},
       .outputs = {out + "/corpus"},
       .title = [out] { return "building the pre-training corpora into " + out + "/corpus"; },
       .body =
           [this](bool) {
             CorpusOptions co;
             co.seed = static_cast<uint64_t>(m_.seed);
             CorpusSummary cs =
                 RunCorpus(store_, m_.out + "/tokenizer", m_.codec, m_.out + "/corpus", co);
             std::fputs(cs.Table().c_str(), stdout);
           }});
  steps.push_back({.name = "pretrain",
                   .number = 5,
                   .can_resume = true,
                   .off = [this] { return TrainingOff(0); },
                   .done_when = {out + "/pretrain/pretrain_summary.json"},
                   .outputs = {out + "/pretrain", out + "/samples.json"},
                   .title =
                       [this] {
                         return "pre-training the " + m_.model_size +
                                " model (general, objective, subjective, behaviour) into " +
                                m_.out + "/pretrain";
                       },
                   .body = [this](bool resume) { Pretrain(resume); },
                   // A look at what the model does so far (not an evaluation).
                   .after =
                       [this] {
                         const std::string ckpt = PretrainedCheckpoint();
                         if (!ckpt.empty() && !FileExists(m_.out + "/samples.json"))
                           SampleAnswers(store_, ckpt, m_.out + "/samples.json");
                       }});
  steps.push_back({.name = "reward",
                   .number = 6,
                   .can_resume = false,
                   .off = [this] { return TrainingOff(1); },
                   .extra_key =
                       [] {
                         // The ranker's defaults that are not options of the main job: a new
                         // default redoes the step.
                         return std::vector<std::string>{
                             Setting("ranker-weight-decay", RankerTrainOptions{}.weight_decay),
                             Setting("ranker-match", RankerConfig{}.match),
                             Setting("ranker-song-id-dim", RankerConfig{}.song_id_dim),
                             Setting("ranker-auto-examples", kRankerAutoExamples)};
                       },
                   .done_when = {out + "/ranker/ranker.json"},
                   .outputs = {out + "/ranker"},
                   .title = [out] { return "training the ranking model into " + out + "/ranker"; },
                   .body = [this](bool) { RankingModel(); }});
  steps.push_back({.name = "sft",
                   .number = 7,
                   .can_resume = false,
                   .off = [this] { return TrainingOff(2); },
                   .done_when = {out + "/sft/sft/final/DONE"},
                   .outputs = {out + "/uq2i", out + "/sft"},
                   .title =
                       [out] {
                         return "synthesising UQ2I triplets into " + out +
                                "/uq2i and instruction-tuning into " + out + "/sft";
                       },
                   .body = [this](bool) { InstructionTuning(PretrainedCheckpoint()); }});
  // The judge: the generative kinds need the SFT model, the yes/no one the pre-trained model. Its
  // key says where its training labels come from (runs whose judge learned from the oracle,
  // before 2026-12-05, build it again) and the song space's defaults.
  steps.push_back(
      {.name = "judge",
       .number = 8,
       .can_resume = false,
       .off = [this] { return TrainingOff(m_.judge_kind == "yesno" ? 1 : 2); },
       .extra_key =
           [] {
             const GenerativeJudgeOptions d;
             return std::vector<std::string>{
                 Setting("judge-labels", "store"),
                 Setting("judge-feedback-songs", d.feedback_songs),
                 Setting("judge-pmi-weight", d.pmi_weight),
                 Setting("judge-query-weight", d.query_weight),
                 Setting("judge-center-weight", d.center_weight),
                 Setting("judge-played-weight", d.played_weight),
                 Setting("judge-played-min-weight", d.played.min_weight),
                 Setting("judge-dense-dim", d.dense.dim),
                 Setting("judge-dense-epochs", d.dense.epochs)};
           },
       .done_when = {},  // a judge that could not be built (no labelled queries): tried again
       .outputs = {out + "/judge"},
       .title = [out] { return "the relevance judge into " + out + "/judge"; },
       .body = [this](bool) { BuildJudge(); }});
  // GRPO's key also holds the defaults the main job takes from GrpoOptions and GrpoRunOptions, so
  // a run aligned with an earlier default reward is aligned again.
  steps.push_back({.name = "grpo",
                   .number = 9,
                   .can_resume = true,
                   .off = [this] { return TrainingOff(3); },
                   .extra_key =
                       [] {
                         const GrpoRunOptions d;
                         return std::vector<std::string>{
                             Setting("grpo-rewards", d.grpo.rewards),
                             Setting("grpo-advantage", d.grpo.advantage),
                             Setting("grpo-served-evidence-weight", d.served_evidence_weight),
                             Setting("grpo-merge", d.merge)};
                       },
                   .done_when = {out + "/grpo/grpo/final/DONE"},
                   .outputs = {out + "/grpo"},
                   .title = [out] { return "GRPO of the SFT model into " + out + "/grpo"; },
                   .body = [this](bool resume) { Align(resume); }});
  // The report evaluates every checkpoint: its key follows the last training step run. It goes
  // with pre-training only (with nothing trained there is nothing to report).
  steps.push_back(
      {.name = "report",
       .number = 10,
       .can_resume = false,
       .off =
           [this] {
             const std::string why = TrainingOff(1);  // pre-training's, not SFT's or GRPO's
             if (!why.empty()) return why;
             return m_.report_requests == 0 ? std::string("--report-requests 0") : std::string();
           },
       .extra_key =
           [] {
             // The evaluation's reranking defaults (not options of the main job): a new one
             // redoes the report.
             const ReportOptions d;
             return std::vector<std::string>{
                 Setting("rerank-model-weight", d.eval.rerank_model_weight),
                 Setting("rerank-pool", d.eval.rerank_pool),
                 Setting("rerank-evidence-weight", d.eval.rerank_evidence_weight),
                 Setting("rerank-ranker-prior-weight", d.eval.rerank_ranker_prior_weight)};
           },
       .done_when = {out + "/report/report.json"},
       .outputs = {out + "/report"},
       .title = [out] { return "the evaluation report into " + out + "/report"; },
       .body = [this](bool) { Report(); },
       // The table is printed whether the report was made now or cached, and the run's page is
       // always rewritten: it also shows what `ablate` and `benchmark` added since.
       .after =
           [this] {
             if (!FileExists(m_.out + "/report/report.json")) return;
             const nlohmann::json r =
                 nlohmann::json::parse(ReadFile(m_.out + "/report/report.json"));
             std::printf(
                 "evaluation report (%lld held-out test requests, %s/report/report.md):\n%s",
                 r["requests"].get<long long>(), m_.out.c_str(), ReportTable(r).c_str());
             const RunReportFiles files = WriteRunReport(m_.out, m_.out + "/report");
             std::printf("run report (tables, curves, configuration): %s\n", files.html.c_str());
           }});
  return steps;
}

int MainJob::Run() {
  CheckEveryOptionIsKeyed(opts_);
  if (m_.input.empty() && m_.world_catalog != "synthetic" && m_.world_input.empty())
    throw Error("--world-catalog " + m_.world_catalog + " needs --world-input", "--world-input",
                "give the dataset folder, e.g. --world-input ../shared/data/mtg-jamendo");
  MakeDirs(m_.out);
  opts_.WriteEffective(m_.out + "/pipeline.config.toml");
  const StepCache cache(m_.out);
  if (m_.fresh) fs::remove_all(m_.out + "/steps");
  std::deque<StepCache::Step> made;  // stable addresses: each key chains the one before it
  for (const Step& s : Steps()) {
    if (const std::string why = s.off ? s.off() : ""; !why.empty()) {
      Off(s, why);
      continue;
    }
    std::vector<std::string> key = StepSettings(opts_, s.name);
    if (s.extra_key)
      for (std::string& k : s.extra_key()) key.push_back(std::move(k));
    made.push_back(cache.Make(s.name, key, made.empty() ? nullptr : &made.back(), s.done_when));
    const StepCache::Step& step = made.back();
    // Runs the step unless RUN/steps says it is done with the same key and outputs. A step that
    // was interrupted with the same key resumes where it can (pre-training, GRPO); otherwise its
    // old outputs go first, so nothing of another configuration is mixed into the run.
    if (cache.Done(step)) {
      std::printf("step %d/10 %s: cached (%s; delete it or use --fresh to redo)\n", s.number,
                  s.name.c_str(), cache.DonePath(s.name).c_str());
    } else {
      const bool resume = s.can_resume && cache.Interrupted(step);
      if (!resume)
        for (const std::string& p : s.outputs) fs::remove_all(p);
      spdlog::info("step {}/10: {}{}", s.number, s.title(),
                   resume ? " (resuming the interrupted run)" : "");
      cache.Start(step);
      s.body(resume);
      cache.Finish(step);
    }
    if (s.after) s.after();
  }
  std::printf("pipeline done: %s\n", m_.out.c_str());
  return 0;
}

}  // namespace

int RunMainJob(const MainJobOptions& options) { return MainJob(options).Run(); }

}  // namespace muchator
