// `muchator pipeline`: the main job. On the built-in default it generates the synthetic world
// and ingests it; with --input it ingests the user's own data instead. Later stages (training,
// evaluation, report, server) are added here as they land, never as new commands to type.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "cli/command.h"
#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "core/step_cache.h"
#include "corpus/builders.h"
#include "data/ingest.h"
#include "data/store.h"
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

namespace muchator::cli {

namespace {

namespace fs = std::filesystem;

class PipelineCommand : public Command {
 public:
  std::string name() const override { return "pipeline"; }
  std::string description() const override {
    return "Run the main job into --out: generate the synthetic world (or take --input), ingest "
           "it, train the "
           "tokenizer, build the pre-training corpora, pre-train the model on the four stages in "
           "order, train the reward "
           "models, synthesise UQ2I data and instruction-tune, align with GRPO, and write the "
           "evaluation report. A re-run into the same --out reuses every step done with the same "
           "settings and inputs (RUN/steps/) and resumes an interrupted one";
  }
  void Declare(Options& opts) override { m_.Declare(opts); }

  // Step 9: the evaluation report over the baselines and every checkpoint the run produced.
  void Report(const std::string& store_path, const std::string& world_dir) {
    const RunLayout run = ReadRunLayout(m_.out);
    ReportOptions o;
    o.store = store_path;
    o.world_dir = world_dir;
    o.judge_dir = run.judge;
    o.ranker_dir = run.ranker;
    o.triplets = run.triplets;
    if (o.ranker_dir.empty()) o.baselines = {"popularity", "bm25", "dense"};
    o.requests = static_cast<int>(m_.report_requests);
    o.checkpoints = run.checkpoints;
    Store st(store_path);
    if (RequestsFromStore(st, o.split, 1).empty()) {
      spdlog::warn(
          "no test-split queries with a user in {}: no evaluation report (docs/metrics.md)",
          store_path);
      return;
    }
    RunReport(o, m_.out + "/report");
  }

  // Step 8: GRPO of the SFT checkpoint with the hybrid reward, and the before/after report.
  void Align(const std::string& store_path, const std::string& world_dir, bool resume) {
    GrpoRunOptions o;
    o.resume = resume;
    o.grpo.steps = m_.grpo_steps;
    o.grpo.constrained = m_.grpo_constrained;
    o.grpo.train.seed = static_cast<uint64_t>(m_.seed);
    // The reward models step 6 could train (with your own data the judge needs labelled queries).
    const bool judge = FileExists(m_.out + "/judge/judge.json"),
               ranker = FileExists(m_.out + "/ranker/ranker.json");
    if (judge) o.judge_dir = m_.out + "/judge";
    if (ranker) o.ranker_dir = m_.out + "/ranker";
    if (!judge || !ranker) {
      const std::string model_reward = judge ? "rel=1," : ranker ? "pers=1," : "";
      o.grpo.rewards = model_reward + "format=0.2,fact=0.2,div=0.2,dedup=0.2";
      spdlog::warn("GRPO without the {}: rewards {}",
                   judge    ? "ranking model"
                   : ranker ? "relevance judge"
                            : "reward models",
                   o.grpo.rewards);
    }
    o.world_dir = world_dir;
    Store st(store_path);
    if (LoadRlRequests(st, o.heldout_percent).train.empty()) {
      spdlog::warn(
          "no RL-split queries with a user in {}: GRPO skipped (mark queries \"split\": \"rl\", "
          "docs/rl.md)",
          store_path);
      return;
    }
    const nlohmann::json r = RunGrpo(st, m_.out + "/sft/sft/final", m_.out + "/grpo", o);
    std::printf("grpo: %lld steps, reward %.3f -> %.3f\n", r["training"]["steps"].get<long long>(),
                r["training"]["first"]["reward_mean"].get<double>(),
                r["training"]["last"]["reward_mean"].get<double>());
  }
  // Step 6: the ranking model and the relevance judge (initialised from the pre-trained model),
  // with the oracle's comparisons when the data is the synthetic world.
  void TrainRewardModels(const std::string& store_path, const std::string& world_dir,
                         const std::string& ckpt) {
    std::unique_ptr<world::Oracle> oracle;
    if (!world_dir.empty())
      oracle = std::make_unique<world::Oracle>(world::Oracle::Load(world_dir));
    Store st(store_path);
    RankerTrainOptions ro;
    ro.epochs = m_.ranker_epochs;
    ro.seed = static_cast<uint64_t>(m_.seed);
    nlohmann::json rr;
    Ranker ranker = TrainRanker(st, ro, oracle.get(), &rr);
    ranker.Save(m_.out + "/ranker", rr);
    WriteFileAtomic(m_.out + "/ranker/ranker_report.json", rr.dump(2) + "\n");
    std::printf("ranker: held-out like-vs-skip AUC %.3f", rr["like_vs_skip_auc"].get<double>());
    if (oracle)
      std::printf(" (oracle %.3f), Spearman with oracle utility %.3f",
                  rr["oracle_like_vs_skip_auc"].get<double>(), rr["oracle_spearman"].get<double>());
    std::printf("\n");
    if (m_.judge_kind == "yesno") TrainYesNoJudge(st, oracle.get(), ckpt);
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
  static void PrintJudge(const nlohmann::json& jr) {
    if (jr.contains("heldout"))
      std::printf("judge (%s): held-out accuracy %.3f, F1 %.3f, AUC %.3f (threshold %.3f)\n",
                  jr.value("kind", "yesno").c_str(), jr["heldout"]["accuracy"].get<double>(),
                  jr["heldout"]["f1"].get<double>(), jr["heldout"]["auc"].get<double>(),
                  jr["threshold"].get<double>());
  }

  // Step 7: UQ2I triplets and SFT of the pre-trained model on them.
  void InstructionTuning(const std::string& store_path, const std::string& world_dir,
                         const std::string& ckpt) {
    std::unique_ptr<world::Oracle> oracle;
    if (!world_dir.empty())
      oracle = std::make_unique<world::Oracle>(world::Oracle::Load(world_dir));
    Store st(store_path);
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
    const nlohmann::json report = RunSft(st, ckpt, m_.out + "/uq2i/triplets.jsonl", m_.out + "/sft",
                                         oracle.get(), so, {}, /*check_before=*/false);
    if (oracle)
      std::printf(
          "sft, constrained answers: oracle relevance@10 %.3f on held-out pairs, %.3f on test "
          "queries\n",
          report["after"]["heldout_pairs"]["constrained"]["relevance_at_10"].get<double>(),
          report["after"]["test_queries"]["constrained"]["relevance_at_10"].get<double>());
    if (m_.judge_kind != "pmi") return;
    // The generative judge: the instruction-tuned model itself (nothing to train).
    try {
      JudgeLabelOptions lo;
      lo.seed = static_cast<uint64_t>(m_.seed);
      PrintJudge(BuildPmiJudge(st, oracle.get(), m_.out + "/sft/sft/final", lo, m_.out + "/judge"));
    } catch (const Error& e) {
      spdlog::warn("generative judge not built ({}): training the yes/no judge instead",
                   FormatError(e));
      fs::remove_all(m_.out + "/judge");
      TrainYesNoJudge(st, oracle.get(), ckpt);
    }
  }

  int Run(const Options& opts) override {
    CheckEveryOptionIsKeyed(opts);
    MakeDirs(m_.out);
    opts.WriteEffective(m_.out + "/pipeline.config.toml");
    const StepCache cache(m_.out);
    if (m_.fresh) fs::remove_all(m_.out + "/steps");
    // Runs one step unless RUN/steps says it is done with the same key and outputs. A step that
    // was interrupted with the same key resumes where it can (pre-training, GRPO); otherwise its
    // old outputs go first, so nothing of another configuration is mixed into the run.
    auto step = [&](int n, const StepCache::Step& s, const std::string& title,
                    const std::vector<std::string>& clean, bool can_resume,
                    const std::function<void(bool)>& body) {
      if (cache.Done(s)) {
        std::printf("step %d/9 %s: cached (%s; delete it or use --fresh to redo)\n", n,
                    s.name.c_str(), cache.DonePath(s.name).c_str());
        return;
      }
      const bool resume = can_resume && cache.Interrupted(s);
      if (!resume)
        for (const std::string& p : clean) fs::remove_all(p);
      spdlog::info("step {}/9: {}{}", n, title, resume ? " (resuming the interrupted run)" : "");
      cache.Start(s);
      body(resume);
      cache.Finish(s);
    };
    // A step the settings turn off: its stamps and outputs go, so the report and `ablate` do not
    // take an earlier configuration's checkpoints for this run's.
    auto off = [&](const std::string& name, const std::vector<std::string>& outputs,
                   const std::string& why) {
      cache.Forget(name);
      for (const std::string& p : outputs)
        if (fs::exists(p)) {
          spdlog::warn("removing {} ({})", p, why);
          fs::remove_all(p);
        }
    };
    // A setting that is not a pipeline option (a library default, a content digest).
    auto setting = [](const char* name, const auto& value) {
      if constexpr (std::is_convertible_v<decltype(value), std::string>)
        return std::string(name) + " = \"" + std::string(value) + "\"";
      else if constexpr (std::is_same_v<std::decay_t<decltype(value)>, bool>)
        return std::string(name) + " = " + (value ? "true" : "false");
      else
        return std::string(name) + " = " + std::to_string(value);
    };

    auto Joined = [](std::vector<std::string> a, const std::vector<std::string>& b) {
      a.insert(a.end(), b.begin(), b.end());
      return a;
    };

    std::string data_dir = m_.input;
    StepCache::Step world;
    if (data_dir.empty()) {
      data_dir = m_.out + "/world";
      if (m_.world_catalog != "synthetic" && m_.world_input.empty())
        throw Error("--world-catalog " + m_.world_catalog + " needs --world-input", "--world-input",
                    "give the dataset folder, e.g. --world-input ../shared/data/mtg-jamendo");
      std::vector<std::string> ws = StepSettings(opts, "world");
      if (!m_.world_input.empty())
        ws.push_back(setting("world-input-sha256", DigestTree(m_.world_input)));
      world = cache.Make("world", ws, nullptr, {data_dir + "/oracle/world.json"});
      step(1, world,
           "generating the " + m_.world_preset + " " + m_.world_catalog + " world into " + data_dir,
           {data_dir}, false, [&](bool) {
             world::WorldConfig c = world::WorldConfig::ForSize(m_.world_preset);
             c.seed = static_cast<uint64_t>(m_.seed);
             c.catalog = m_.world_catalog;
             c.catalog_input = m_.world_input;
             if (m_.world_songs) c.songs = m_.world_songs;
             if (m_.world_users) c.users = m_.world_users;
             if (m_.world_events) c.events = m_.world_events;
             if (m_.world_queries) c.queries = m_.world_queries;
             world::GenerateStats st;
             world::Generate(c, data_dir, &st);
             spdlog::info("world: {} songs, {} users, {} events in {:.1f} s", st.songs, st.users,
                          st.events, st.seconds);
           });
    } else {
      off("world", {m_.out + "/world"}, "--input: the run's data is yours, not a synthetic world");
    }
    const std::string world_dir = m_.input.empty() ? data_dir : "";
    const std::string store = m_.out + "/store.sqlite";
    // With --input the key holds the data's content digest: edited data is ingested again.
    const StepCache::Step ingest =
        m_.input.empty() ? cache.Make("ingest", {}, &world, {store})
                         : cache.Make("ingest", {setting("input-sha256", DigestTree(m_.input))},
                                      nullptr, {store});
    step(2, ingest, "ingesting " + data_dir + " into " + store,
         {store, store + "-wal", store + "-shm", store + ".ingest.json",
          store + ".quarantine.jsonl"},
         false, [&](bool) {
           IngestSummary s = Ingest({data_dir, store, "", false});
           WriteFileAtomic(store + ".ingest.json", s.ToJson().dump(2) + "\n");
           std::fputs(s.Table().c_str(), stdout);
           if (s.quarantined() > 0)
             spdlog::warn("{} rows quarantined: see {}", s.quarantined(), s.quarantine_path);
         });
    const StepCache::Step tokenizer = cache.Make("tokenizer", StepSettings(opts, "tokenizer"),
                                                 &ingest, {m_.out + "/tokenizer/tokenizer.json"});
    step(3, tokenizer, "training the tokenizer into " + m_.out + "/tokenizer",
         {m_.out + "/tokenizer"}, false, [&](bool) {
           Store st(store);
           BpeTrainOptions bo;
           bo.vocab_size = static_cast<int>(m_.vocab_size);
           bo.special_tokens = BaseSpecialTokens();
           auto tok = TrainBpe([&](const auto& emit) { ForEachTrainingText(st, emit); }, bo);
           MakeDirs(m_.out + "/tokenizer");
           tok->SaveHf(m_.out + "/tokenizer/tokenizer.json");
         });
    const StepCache::Step corpus = cache.Make("corpus", StepSettings(opts, "corpus"), &tokenizer,
                                              {m_.out + "/corpus/corpus_summary.json"});
    step(4, corpus, "building the pre-training corpora into " + m_.out + "/corpus",
         {m_.out + "/corpus"}, false, [&](bool) {
           CorpusOptions co;
           co.seed = static_cast<uint64_t>(m_.seed);
           CorpusSummary cs =
               RunCorpus(store, m_.out + "/tokenizer", m_.codec, m_.out + "/corpus", co);
           std::fputs(cs.Table().c_str(), stdout);
         });

    // Steps 5-9, each only when the settings ask for it and the step before it ran.
    struct Later {
      const char* name;
      std::vector<std::string> outputs;
    };
    const std::vector<Later> later = {
        {"pretrain", {m_.out + "/pretrain", m_.out + "/samples.json"}},
        {"reward", {m_.out + "/ranker", m_.out + "/judge"}},
        {"sft", {m_.out + "/uq2i", m_.out + "/sft"}},  // + judge (pmi)
        {"grpo", {m_.out + "/grpo"}},
        {"report", {m_.out + "/report"}}};
    // Turns off the training steps from `first` on (the report has its own setting; it goes
    // only when there is nothing to report).
    auto off_from = [&](size_t first, const std::string& why, bool report_too) {
      for (size_t i = first; i + 1 < later.size(); ++i) off(later[i].name, later[i].outputs, why);
      if (report_too) off(later.back().name, later.back().outputs, why);
    };
    if (m_.pretrain_steps == 0) {
      off_from(0, "--pretrain-steps 0", true);
      std::printf("pipeline done: %s\n", m_.out.c_str());
      return 0;
    }
    const std::vector<std::string> stages = {"stage0_general", "stage1_objective",
                                             "stage2_subjective", "stage3_behaviour"};
    const StepCache::Step pretrain = cache.Make("pretrain", StepSettings(opts, "pretrain"), &corpus,
                                                {m_.out + "/pretrain/pretrain_summary.json"});
    step(5, pretrain,
         "pre-training the " + m_.model_size +
             " model (general, objective, subjective, behaviour) into " + m_.out + "/pretrain",
         later[0].outputs, true, [&](bool resume) {
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
                RunCurriculum(m_.out + "/corpus", stages, false, m_.out + "/pretrain", "",
                              m_.model_size, to, resume)) {
             double own = 0;
             for (auto& [s, l] : r.heldout)
               if (s == r.stage) own = l;
             std::printf("pretrain %s: train loss %.3f, held-out loss of this stage %.3f\n",
                         r.stage.c_str(), r.final_loss, own);
           }
         });
    // The last stage trained (stages without documents in the user's data are skipped).
    std::string ckpt;
    for (const std::string& s : stages)
      if (FileExists(m_.out + "/pretrain/" + s + "/final/DONE"))
        ckpt = m_.out + "/pretrain/" + s + "/final";
    if (ckpt.empty()) {
      off_from(1, "no pre-trained checkpoint", true);
      std::printf("pipeline done: %s\n", m_.out.c_str());
      return 0;
    }
    if (!FileExists(m_.out + "/samples.json")) SampleAnswers(store, ckpt, m_.out + "/samples.json");

    // Where the judge's training labels come from, in the key of the step that builds that kind of
    // judge: runs whose judge learned from the oracle (before 2026-12-05) build it again.
    auto with_judge_labels = [&](const char* kind, std::vector<std::string> settings) {
      if (m_.judge_kind == kind) settings.push_back(setting("judge-labels", "store"));
      return settings;
    };
    const StepCache::Step reward = cache.Make(
        "reward",
        with_judge_labels("yesno",
                          Joined(StepSettings(opts, "reward"),
                                 // The ranker's defaults that are not pipeline options: a new
                                 // default redoes the step.
                                 {setting("ranker-weight-decay", RankerTrainOptions{}.weight_decay),
                                  setting("ranker-match", RankerConfig{}.match),
                                  setting("ranker-song-id-dim", RankerConfig{}.song_id_dim),
                                  setting("ranker-auto-examples", kRankerAutoExamples)})),
        &pretrain, {m_.out + "/ranker/ranker.json"});
    step(6, reward,
         "training the ranking model into " + m_.out + "/ranker" +
             (m_.judge_kind == "yesno" ? " and the relevance judge into " + m_.out + "/judge" : ""),
         later[1].outputs, false, [&](bool) { TrainRewardModels(store, world_dir, ckpt); });
    const StepCache::Step* last = &reward;
    StepCache::Step sft, grpo;
    if (m_.sft_steps > 0) {
      sft = cache.Make("sft", with_judge_labels("pmi", StepSettings(opts, "sft")), &reward,
                       {m_.out + "/sft/sft/final/DONE"});
      step(7, sft,
           "synthesising UQ2I triplets into " + m_.out + "/uq2i and instruction-tuning into " +
               m_.out + "/sft" +
               (m_.judge_kind == "pmi" ? ", then the generative judge into " + m_.out + "/judge"
                                       : ""),
           later[2].outputs, false, [&](bool) { InstructionTuning(store, world_dir, ckpt); });
      last = &sft;
      if (m_.grpo_steps > 0) {
        grpo = cache.Make("grpo", StepSettings(opts, "grpo"), &sft,
                          {m_.out + "/grpo/grpo/final/DONE"});
        step(8, grpo, "GRPO of the SFT model into " + m_.out + "/grpo", later[3].outputs, true,
             [&](bool resume) { Align(store, world_dir, resume); });
        last = &grpo;
      } else {
        off_from(3, "--grpo-steps 0", false);
      }
    } else {
      off_from(2, "--sft-steps 0", false);
    }
    if (m_.report_requests > 0) {
      // The report evaluates every checkpoint: its key follows the last training step.
      const StepCache::Step report = cache.Make(
          "report",
          Joined(StepSettings(opts, "report"),
                 // The evaluation's reranking defaults (not pipeline options): a new one redoes
                 // the report.
                 {setting("rerank-model-weight", ReportOptions{}.eval.rerank_model_weight),
                  setting("rerank-pool", ReportOptions{}.eval.rerank_pool),
                  setting("rerank-evidence-weight", ReportOptions{}.eval.rerank_evidence_weight),
                  setting("rerank-ranker-prior-weight",
                          ReportOptions{}.eval.rerank_ranker_prior_weight)}),
          last, {m_.out + "/report/report.json"});
      step(9, report, "the evaluation report into " + m_.out + "/report", later[4].outputs, false,
           [&](bool) { Report(store, world_dir); });
      // The table is printed whether the report was made now or cached, and the run's page is
      // always rewritten: it also shows what `ablate` and `benchmark` added since.
      if (FileExists(m_.out + "/report/report.json")) {
        const nlohmann::json r = nlohmann::json::parse(ReadFile(m_.out + "/report/report.json"));
        std::printf("evaluation report (%lld held-out test requests, %s/report/report.md):\n%s",
                    r["requests"].get<long long>(), m_.out.c_str(), ReportTable(r).c_str());
        const RunReportFiles files = WriteRunReport(m_.out, m_.out + "/report");
        std::printf("run report (tables, curves, configuration): %s\n", files.html.c_str());
      }
    } else {
      off("report", later[4].outputs, "--report-requests 0");
    }
    std::printf("pipeline done: %s\n", m_.out.c_str());
    return 0;
  }

 private:
  MainJobOptions m_;
};

}  // namespace

std::unique_ptr<Command> MakePipelineCommand() { return std::make_unique<PipelineCommand>(); }

}  // namespace muchator::cli
