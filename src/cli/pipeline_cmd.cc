// `muchator pipeline`: the main job. On the built-in default it generates the synthetic world
// and ingests it; with --input it ingests the user's own data instead. Later stages (training,
// evaluation, report, server) are added here as they land, never as new commands to type.
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <type_traits>

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
#include "pipeline/grpo_step.h"
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

// A few answers of the final checkpoint to held-out test requests (constrained, greedy), printed
// and written to `out`: a look at what the model does so far, not an evaluation.
void SampleAnswers(const std::string& store_path, const std::string& ckpt_dir,
                   const std::string& out) {
  Checkpoint ck = LoadCheckpoint(ckpt_dir);
  if (!ck.grammar) return;
  Store store(store_path);
  std::vector<Query> queries;
  store.ForEachQuery(
      [&](const Query& q) {
        if (queries.size() < 3) queries.push_back(q);
      },
      "test");
  if (queries.empty()) return;
  Engine engine(ck.model, *ck.tok, ck.grammar.get(), {static_cast<int>(queries.size()), 0});
  std::vector<GenerationRequest> reqs;
  for (const auto& q : queries) {
    UserContext ctx =
        q.user.empty() ? UserContext{} : UserContextFromStore(store, ck.catalog, q.user, q.ts);
    ctx.state = q.state;
    GenerationRequest r;
    r.prompt = RenderPrompt(*ck.tok, *ck.codec, ctx, q.text).ids;
    r.constraint = ConstraintOptions{};  // an opening sentence, then the list (docs/uq2i.md)
    reqs.push_back(std::move(r));
  }
  const auto results = engine.Generate(std::move(reqs));
  nlohmann::json j = nlohmann::json::array();
  for (size_t i = 0; i < results.size(); ++i) {
    std::printf("sample answer to \"%s\" (user %s, %s):\n", queries[i].text.c_str(),
                queries[i].user.empty() ? "-" : queries[i].user.c_str(),
                StateText(queries[i].state).c_str());
    nlohmann::json items = nlohmann::json::array();
    for (size_t k = 0; k < results[i].items.size(); ++k) {
      const int item = results[i].items[k];
      if (k < 5) std::printf("  %zu. %s\n", k + 1, ck.codec->DisplayText(item).c_str());
      items.push_back(ck.catalog.items[item].id);
    }
    j.push_back({{"query", queries[i].id},
                 {"text", queries[i].text},
                 {"user", queries[i].user},
                 {"items", items},
                 {"total_ms", results[i].total_s * 1e3}});
  }
  WriteFileAtomic(out, j.dump(2) + "\n");
}

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
  void Declare(Options& opts) override {
    AddOut(opts, &out_, "run directory: world/, store.sqlite and each step's outputs and configs");
    AddPath(opts, PathFlag::kInput, &input_,
            "your own data (ingestion JSONL directory); empty = the synthetic world");
    opts.Add("world-size", &size_, "synthetic world size").OneOf({"tiny", "demo", "large"});
    opts.Add(
            "world-catalog", &catalog_,
            "songs of the built-in world: synthetic, or jamendo (the real MTG-Jamendo catalog from "
            "--world-input, users and behaviour simulated over it; docs/world.md)")
        .OneOf({"synthetic", "jamendo"});
    opts.Add("world-input", &catalog_input_, "the MTG-Jamendo folder for --world-catalog jamendo");
    // The counts `muchator world` overrides, for a world between the presets (the tiny-world
    // learning test uses a tiny catalog with more listeners and requests).
    opts.Add("world-songs", &world_songs_, "override the world's number of songs (0 = the size's)")
        .Range(0, 1e9);
    opts.Add("world-users", &world_users_, "override the world's number of users (0 = the size's)")
        .Range(0, 1e9);
    opts.Add("world-events", &world_events_,
             "override the world's number of listening events (0 = the size's)")
        .Range(0, 1e12);
    opts.Add("world-queries", &world_queries_,
             "override the world's number of queries (0 = the size's)")
        .Range(0, 1e9);
    AddSeed(opts, &seed_, "random seed of the synthetic world");
    opts.Add("vocab-size", &vocab_size_, "tokenizer vocabulary size (before item tokens)")
        .Range(300, 1000000);
    opts.Add("codec", &codec_, "item codec").OneOf(ItemCodecNames());
    opts.Add("model-size", &model_size_, "model size to pre-train").OneOf(ModelConfig::Names());
    opts.Add("pretrain-steps", &pretrain_steps_,
             "optimizer steps per pre-training stage (0 = skip pre-training)")
        .Range(0, 1e9);
    opts.Add("general-steps", &general_steps_,
             "optimizer steps of the general (everyday-language) pre-training stage, at lr 3e-3 "
             "(0 = four times --pretrain-steps)")
        .Range(0, 1e9);
    opts.Add("ranker-epochs", &ranker_epochs_,
             "ranking model passes over the events (0 = sized to the data)")
        .Range(0, 1000);
    opts.Add("judge-kind", &judge_kind_,
             "the relevance judge: pmi (built after SFT from the instruction-tuned model's "
             "first-song "
             "scores; held-out AUC ~0.80 on the demo world) or yesno (fine-tuned from the "
             "pre-trained "
             "model in step 6; ~0.63)")
        .OneOf({"pmi", "yesno"});
    opts.Add("judge-steps", &judge_steps_, "yes/no relevance judge fine-tuning steps")
        .Range(1, 1e9);
    opts.Add("judge-layers", &judge_layers_,
             "the judge keeps the first N layers of the pre-trained model (1: ~3x faster, same "
             "held-out AUC on the "
             "demo world; 0 = all)")
        .Range(0, 1000);
    opts.Add("sft-steps", &sft_steps_,
             "instruction-tuning steps on the UQ2I triplets (0 = stop after the reward models)")
        .Range(0, 1e9);
    opts.Add("grpo-steps", &grpo_steps_, "GRPO steps after SFT (0 = stop after SFT)").Range(0, 1e9);
    opts.Add("grpo-constrained", &grpo_constrained_,
             "constrained GRPO rollouts: the demo SFT model's free-text answers name catalog songs "
             "~1% of the time, "
             "so unconstrained rollouts leave the relevance and personalisation rewards without "
             "signal (docs/rl.md)");
    opts.Add("report-requests", &report_requests_,
             "held-out test requests of the evaluation report (0 = no report)")
        .Range(0, 1e9);
    opts.Add("fresh", &fresh_,
             "redo every step; without it a step already done in --out with the same settings and "
             "inputs is reused (RUN/steps/<step>.done) and an interrupted one resumes");
    opts.Add("bf16", &bf16_,
             "bf16 autocast in training (about 2x faster on CPUs with bf16 support)");
  }

  // Step 9: the evaluation report over the baselines and every checkpoint the run produced.
  void Report(const std::string& store_path, const std::string& world_dir) {
    const RunLayout run = ReadRunLayout(out_);
    ReportOptions o;
    o.store = store_path;
    o.world_dir = world_dir;
    o.judge_dir = run.judge;
    o.ranker_dir = run.ranker;
    o.triplets = run.triplets;
    if (o.ranker_dir.empty()) o.baselines = {"popularity", "bm25", "dense"};
    o.requests = static_cast<int>(report_requests_);
    o.checkpoints = run.checkpoints;
    Store st(store_path);
    if (RequestsFromStore(st, o.split, 1).empty()) {
      spdlog::warn(
          "no test-split queries with a user in {}: no evaluation report (docs/metrics.md)",
          store_path);
      return;
    }
    RunReport(o, out_ + "/report");
  }

  // Step 8: GRPO of the SFT checkpoint with the hybrid reward, and the before/after report.
  void Align(const std::string& store_path, const std::string& world_dir, bool resume) {
    GrpoRunOptions o;
    o.resume = resume;
    o.grpo.steps = grpo_steps_;
    o.grpo.constrained = grpo_constrained_;
    o.grpo.train.seed = static_cast<uint64_t>(seed_);
    // The reward models step 6 could train (with your own data the judge needs labelled queries).
    const bool judge = FileExists(out_ + "/judge/judge.json"),
               ranker = FileExists(out_ + "/ranker/ranker.json");
    if (judge) o.judge_dir = out_ + "/judge";
    if (ranker) o.ranker_dir = out_ + "/ranker";
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
    const nlohmann::json r = RunGrpo(st, out_ + "/sft/sft/final", out_ + "/grpo", o);
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
    ro.epochs = ranker_epochs_;
    ro.seed = static_cast<uint64_t>(seed_);
    nlohmann::json rr;
    Ranker ranker = TrainRanker(st, ro, oracle.get(), &rr);
    ranker.Save(out_ + "/ranker", rr);
    WriteFileAtomic(out_ + "/ranker/ranker_report.json", rr.dump(2) + "\n");
    std::printf("ranker: held-out like-vs-skip AUC %.3f", rr["like_vs_skip_auc"].get<double>());
    if (oracle)
      std::printf(" (oracle %.3f), Spearman with oracle utility %.3f",
                  rr["oracle_like_vs_skip_auc"].get<double>(), rr["oracle_spearman"].get<double>());
    std::printf("\n");
    if (judge_kind_ == "yesno") TrainYesNoJudge(st, oracle.get(), ckpt);
  }

  // The fine-tuned yes/no judge from the pre-trained checkpoint `ckpt` (--judge-kind yesno, and
  // the fallback when the generative one cannot be built).
  void TrainYesNoJudge(Store& st, const world::Oracle* oracle, const std::string& ckpt) {
    JudgeTrainOptions jo;
    jo.init = ckpt;
    jo.layers = judge_layers_;
    jo.train.lr = 2e-3;
    jo.train.steps = judge_steps_;
    jo.train.eval_every = jo.train.ckpt_every = judge_steps_;
    jo.train.warmup_steps = std::max<int64_t>(1, judge_steps_ / 10);
    jo.train.bf16 = bf16_;
    jo.train.seed = jo.labels.seed = static_cast<uint64_t>(seed_);
    try {
      PrintJudge(TrainJudge(st, oracle, jo, out_ + "/judge"));
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
    syn.pool.seed = syn.uq2i.seed = static_cast<uint64_t>(seed_);
    const nlohmann::json s =
        RunUq2iSynthesis(st, ckpt, out_ + "/ranker", oracle.get(), out_ + "/uq2i", syn);
    std::printf("uq2i: %s\n", Uq2iSummaryLine(s).c_str());
    SftOptions so;
    so.train.steps = sft_steps_;
    so.train.eval_every = so.train.ckpt_every = sft_steps_;
    so.train.warmup_steps = std::max<int64_t>(1, sft_steps_ / 10);
    so.train.bf16 = bf16_;
    so.train.seed = static_cast<uint64_t>(seed_);
    so.replay_corpus = out_ + "/corpus";
    const nlohmann::json report = RunSft(st, ckpt, out_ + "/uq2i/triplets.jsonl", out_ + "/sft",
                                         oracle.get(), so, {}, /*check_before=*/false);
    if (oracle)
      std::printf(
          "sft, constrained answers: oracle relevance@10 %.3f on held-out pairs, %.3f on test "
          "queries\n",
          report["after"]["heldout_pairs"]["constrained"]["relevance_at_10"].get<double>(),
          report["after"]["test_queries"]["constrained"]["relevance_at_10"].get<double>());
    if (judge_kind_ != "pmi") return;
    // The generative judge: the instruction-tuned model itself (nothing to train).
    try {
      JudgeLabelOptions lo;
      lo.seed = static_cast<uint64_t>(seed_);
      PrintJudge(BuildPmiJudge(st, oracle.get(), out_ + "/sft/sft/final", lo, out_ + "/judge"));
    } catch (const Error& e) {
      spdlog::warn("generative judge not built ({}): training the yes/no judge instead",
                   FormatError(e));
      fs::remove_all(out_ + "/judge");
      TrainYesNoJudge(st, oracle.get(), ckpt);
    }
  }

  int Run(const Options& opts) override {
    MakeDirs(out_);
    opts.WriteEffective(out_ + "/pipeline.config.toml");
    const StepCache cache(out_);
    if (fresh_) fs::remove_all(out_ + "/steps");
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
    auto setting = [](const char* name, const auto& value) {
      if constexpr (std::is_convertible_v<decltype(value), std::string>)
        return std::string(name) + " = \"" + std::string(value) + "\"";
      else if constexpr (std::is_same_v<std::decay_t<decltype(value)>, bool>)
        return std::string(name) + " = " + (value ? "true" : "false");
      else
        return std::string(name) + " = " + std::to_string(value);
    };

    std::string data_dir = input_;
    StepCache::Step world;
    if (data_dir.empty()) {
      data_dir = out_ + "/world";
      if (catalog_ != "synthetic" && catalog_input_.empty())
        throw Error("--world-catalog " + catalog_ + " needs --world-input", "--world-input",
                    "give the dataset folder, e.g. --world-input ../shared/data/mtg-jamendo");
      std::vector<std::string> ws = {setting("world-size", size_), setting("seed", seed_),
                                     setting("world-catalog", catalog_)};
      for (auto [name, value] : {std::pair{"world-songs", world_songs_},
                                 {"world-users", world_users_},
                                 {"world-events", world_events_},
                                 {"world-queries", world_queries_}})
        if (value > 0) ws.push_back(setting(name, value));
      if (!catalog_input_.empty())
        ws.push_back(setting("world-input-sha256", DigestTree(catalog_input_)));
      world = cache.Make("world", ws, nullptr, {data_dir + "/oracle/world.json"});
      step(1, world, "generating the " + size_ + " " + catalog_ + " world into " + data_dir,
           {data_dir}, false, [&](bool) {
             world::WorldConfig c = world::WorldConfig::ForSize(size_);
             c.seed = static_cast<uint64_t>(seed_);
             c.catalog = catalog_;
             c.catalog_input = catalog_input_;
             if (world_songs_) c.songs = world_songs_;
             if (world_users_) c.users = world_users_;
             if (world_events_) c.events = world_events_;
             if (world_queries_) c.queries = world_queries_;
             world::GenerateStats st;
             world::Generate(c, data_dir, &st);
             spdlog::info("world: {} songs, {} users, {} events in {:.1f} s", st.songs, st.users,
                          st.events, st.seconds);
           });
    } else {
      off("world", {out_ + "/world"}, "--input: the run's data is yours, not a synthetic world");
    }
    const std::string world_dir = input_.empty() ? data_dir : "";
    const std::string store = out_ + "/store.sqlite";
    // With --input the key holds the data's content digest: edited data is ingested again.
    const StepCache::Step ingest =
        input_.empty()
            ? cache.Make("ingest", {}, &world, {store})
            : cache.Make("ingest", {setting("input-sha256", DigestTree(input_))}, nullptr, {store});
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
    const StepCache::Step tokenizer = cache.Make("tokenizer", {setting("vocab-size", vocab_size_)},
                                                 &ingest, {out_ + "/tokenizer/tokenizer.json"});
    step(3, tokenizer, "training the tokenizer into " + out_ + "/tokenizer", {out_ + "/tokenizer"},
         false, [&](bool) {
           Store st(store);
           BpeTrainOptions bo;
           bo.vocab_size = static_cast<int>(vocab_size_);
           bo.special_tokens = BaseSpecialTokens();
           auto tok = TrainBpe([&](const auto& emit) { ForEachTrainingText(st, emit); }, bo);
           MakeDirs(out_ + "/tokenizer");
           tok->SaveHf(out_ + "/tokenizer/tokenizer.json");
         });
    const StepCache::Step corpus =
        cache.Make("corpus", {setting("codec", codec_), setting("seed", seed_)}, &tokenizer,
                   {out_ + "/corpus/corpus_summary.json"});
    step(4, corpus, "building the pre-training corpora into " + out_ + "/corpus",
         {out_ + "/corpus"}, false, [&](bool) {
           CorpusOptions co;
           co.seed = static_cast<uint64_t>(seed_);
           CorpusSummary cs = RunCorpus(store, out_ + "/tokenizer", codec_, out_ + "/corpus", co);
           std::fputs(cs.Table().c_str(), stdout);
         });

    // Steps 5-9, each only when the settings ask for it and the step before it ran.
    struct Later {
      const char* name;
      std::vector<std::string> outputs;
    };
    const std::vector<Later> later = {{"pretrain", {out_ + "/pretrain", out_ + "/samples.json"}},
                                      {"reward", {out_ + "/ranker", out_ + "/judge"}},
                                      {"sft", {out_ + "/uq2i", out_ + "/sft"}},  // + judge (pmi)
                                      {"grpo", {out_ + "/grpo"}},
                                      {"report", {out_ + "/report"}}};
    // Turns off the training steps from `first` on (the report has its own setting; it goes
    // only when there is nothing to report).
    auto off_from = [&](size_t first, const std::string& why, bool report_too) {
      for (size_t i = first; i + 1 < later.size(); ++i) off(later[i].name, later[i].outputs, why);
      if (report_too) off(later.back().name, later.back().outputs, why);
    };
    if (pretrain_steps_ == 0) {
      off_from(0, "--pretrain-steps 0", true);
      std::printf("pipeline done: %s\n", out_.c_str());
      return 0;
    }
    const std::vector<std::string> stages = {"stage0_general", "stage1_objective",
                                             "stage2_subjective", "stage3_behaviour"};
    const StepCache::Step pretrain =
        cache.Make("pretrain",
                   {setting("model-size", model_size_), setting("pretrain-steps", pretrain_steps_),
                    setting("general-steps", MainJobGeneralSteps(general_steps_, pretrain_steps_)),
                    setting("bf16", bf16_), setting("seed", seed_)},
                   &corpus, {out_ + "/pretrain/pretrain_summary.json"});
    step(5, pretrain,
         "pre-training the " + model_size_ +
             " model (general, objective, subjective, behaviour) into " + out_ + "/pretrain",
         later[0].outputs, true, [&](bool resume) {
           TrainOptions to;
           to.steps = pretrain_steps_;
           to.general_steps = MainJobGeneralSteps(general_steps_, pretrain_steps_);
           // The everyday-language stage learns its associations late (TrainOptions::general_lr).
           to.general_lr = 3e-3;
           to.bf16 = bf16_;
           to.seed = static_cast<uint64_t>(seed_);
           to.warmup_steps = std::max<int64_t>(1, pretrain_steps_ / 10);
           to.eval_every = std::max<int64_t>(1, pretrain_steps_ / 2);
           to.ckpt_every = std::max<int64_t>(1, pretrain_steps_ / 2);
           for (const StageResult& r :
                RunCurriculum(out_ + "/corpus", stages, false, out_ + "/pretrain", "", model_size_,
                              to, resume)) {
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
      if (FileExists(out_ + "/pretrain/" + s + "/final/DONE"))
        ckpt = out_ + "/pretrain/" + s + "/final";
    if (ckpt.empty()) {
      off_from(1, "no pre-trained checkpoint", true);
      std::printf("pipeline done: %s\n", out_.c_str());
      return 0;
    }
    if (!FileExists(out_ + "/samples.json")) SampleAnswers(store, ckpt, out_ + "/samples.json");

    // Where the judge's training labels come from, in the key of the step that builds that kind of
    // judge: runs whose judge learned from the oracle (before 2026-12-05) build it again.
    auto with_judge_labels = [&](const char* kind, std::vector<std::string> settings) {
      if (judge_kind_ == kind) settings.push_back(setting("judge-labels", "store"));
      return settings;
    };
    const StepCache::Step reward = cache.Make(
        "reward",
        with_judge_labels(
            "yesno",
            {setting("ranker-epochs", ranker_epochs_),
             // The ranker's defaults that are not pipeline options: a new default redoes the step.
             setting("ranker-weight-decay", RankerTrainOptions{}.weight_decay),
             setting("ranker-match", RankerConfig{}.match),
             setting("ranker-song-id-dim", RankerConfig{}.song_id_dim),
             setting("ranker-auto-examples", kRankerAutoExamples),
             setting("judge-kind", judge_kind_), setting("judge-steps", judge_steps_),
             setting("judge-layers", judge_layers_), setting("bf16", bf16_),
             setting("seed", seed_)}),
        &pretrain, {out_ + "/ranker/ranker.json"});
    step(6, reward,
         "training the ranking model into " + out_ + "/ranker" +
             (judge_kind_ == "yesno" ? " and the relevance judge into " + out_ + "/judge" : ""),
         later[1].outputs, false, [&](bool) { TrainRewardModels(store, world_dir, ckpt); });
    const StepCache::Step* last = &reward;
    StepCache::Step sft, grpo;
    if (sft_steps_ > 0) {
      sft = cache.Make("sft",
                       with_judge_labels("pmi", {setting("sft-steps", sft_steps_),
                                                 setting("judge-kind", judge_kind_),
                                                 setting("bf16", bf16_), setting("seed", seed_)}),
                       &reward, {out_ + "/sft/sft/final/DONE"});
      step(7, sft,
           "synthesising UQ2I triplets into " + out_ + "/uq2i and instruction-tuning into " + out_ +
               "/sft" +
               (judge_kind_ == "pmi" ? ", then the generative judge into " + out_ + "/judge" : ""),
           later[2].outputs, false, [&](bool) { InstructionTuning(store, world_dir, ckpt); });
      last = &sft;
      if (grpo_steps_ > 0) {
        grpo = cache.Make("grpo",
                          {setting("grpo-steps", grpo_steps_),
                           setting("grpo-constrained", grpo_constrained_), setting("seed", seed_)},
                          &sft, {out_ + "/grpo/grpo/final/DONE"});
        step(8, grpo, "GRPO of the SFT model into " + out_ + "/grpo", later[3].outputs, true,
             [&](bool resume) { Align(store, world_dir, resume); });
        last = &grpo;
      } else {
        off_from(3, "--grpo-steps 0", false);
      }
    } else {
      off_from(2, "--sft-steps 0", false);
    }
    if (report_requests_ > 0) {
      // The report evaluates every checkpoint: its key follows the last training step.
      const StepCache::Step report = cache.Make(
          "report",
          {setting("report-requests", report_requests_),
           // The evaluation's reranking defaults (not pipeline options): a new one redoes the
           // report.
           setting("rerank-model-weight", ReportOptions{}.eval.rerank_model_weight),
           setting("rerank-pool", ReportOptions{}.eval.rerank_pool),
           setting("rerank-evidence-weight", ReportOptions{}.eval.rerank_evidence_weight),
           setting("rerank-ranker-prior-weight", ReportOptions{}.eval.rerank_ranker_prior_weight)},
          last, {out_ + "/report/report.json"});
      step(9, report, "the evaluation report into " + out_ + "/report", later[4].outputs, false,
           [&](bool) { Report(store, world_dir); });
      // The table is printed whether the report was made now or cached, and the run's page is
      // always rewritten: it also shows what `ablate` and `benchmark` added since.
      if (FileExists(out_ + "/report/report.json")) {
        const nlohmann::json r = nlohmann::json::parse(ReadFile(out_ + "/report/report.json"));
        std::printf("evaluation report (%lld held-out test requests, %s/report/report.md):\n%s",
                    r["requests"].get<long long>(), out_.c_str(), ReportTable(r).c_str());
        const RunReportFiles files = WriteRunReport(out_, out_ + "/report");
        std::printf("run report (tables, curves, configuration): %s\n", files.html.c_str());
      }
    } else {
      off("report", later[4].outputs, "--report-requests 0");
    }
    std::printf("pipeline done: %s\n", out_.c_str());
    return 0;
  }

 private:
  std::string out_ = "runs/demo", input_, size_ = "demo", codec_ = "atomic", model_size_ = "demo",
              catalog_ = "synthetic", catalog_input_, judge_kind_ = "pmi";
  int64_t seed_ = 1, vocab_size_ = 8000, pretrain_steps_ = 200, general_steps_ = 0,
          ranker_epochs_ = 0, judge_steps_ = 150, judge_layers_ = 1, sft_steps_ = 400,
          grpo_steps_ = 20, report_requests_ = 100, world_songs_ = 0, world_users_ = 0,
          world_events_ = 0, world_queries_ = 0;
  bool grpo_constrained_ = true;
  bool bf16_ = true;
  bool fresh_ = false;
};

}  // namespace

std::unique_ptr<Command> MakePipelineCommand() { return std::make_unique<PipelineCommand>(); }

}  // namespace muchator::cli
