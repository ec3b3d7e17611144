// `muchator sft`: context-aware instruction tuning on UQ2I triplets.
#include <cstdio>
#include <memory>

#include "cli/command.h"
#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "core/threads.h"
#include "data/store.h"
#include "synth/sft.h"
#include "world/oracle.h"

namespace muchator::cli {
namespace {

void PrintGeneration(const char* label, const nlohmann::json& g) {
  for (const char* mode : {"constrained", "unconstrained"})
    std::printf("%s %s: relevance@10 %.3f, utility %.3f, factuality %.3f, well-formed %.3f\n", label, mode,
                g[mode]["relevance_at_10"].get<double>(), g[mode]["utility"].get<double>(),
                g[mode]["factuality"].get<double>(), g[mode]["well_formed"].get<double>());
}

class SftCommand : public Command {
 public:
  std::string name() const override { return "sft"; }
  std::string description() const override {
    return "Instruction-tune a checkpoint on UQ2I triplets (loss on the answer list only); with --world, the oracle "
           "relevance@10 and utility of generated lists on held-out queries before and after";
  }
  void Declare(Options& opts) override {
    opts.Add("triplets", &triplets_, "triplets.jsonl from `muchator synth-uq2i`").Required();
    opts.Add("store", &store_, "the SQLite store the triplets came from (listeners' contexts)").Required();
    opts.Add("init", &init_, "checkpoint to tune: the music pre-trained one (or the base one, for the ablation)").Required();
    opts.Add("out", &out_, "output directory: corpus/, sft/final/ (the tuned checkpoint), sft_report.json");
    opts.Add("world", &world_, "synthetic world directory: evaluate generated lists with its oracle");
    opts.Add("steps", &o_.train.steps, "optimizer steps").Range(1, 1e9);
    opts.Add("seq-len", &o_.train.seq_len, "tokens per packed row (a prompt + list is ~600 with 20 events)").Range(64, 1e6);
    opts.Add("batch-size", &o_.train.batch_size, "rows per step").Range(1, 1e6);
    opts.Add("lr", &o_.train.lr, "peak learning rate").Range(0, 10);
    opts.Add("bf16", &o_.train.bf16, "bf16 autocast for the forward pass");
    opts.Add("history", &o_.history, "events of the listener's history in each prompt").Range(0, 1000);
    opts.Add("max-examples", &o_.max_examples, "use at most this many triplets (0 = all)").Range(0, 1e12);
    opts.Add("eval-queries", &eval_.queries, "held-out test queries for the generation check").Range(1, 1e6);
    opts.Add("seed", &seed_, "seed of data order").Range(0, 9e18);
    opts.Add("threads", &threads_, "compute threads (0 = all cores)").Range(0, 1024);
  }
  int Run(const Options& opts) override {
    SetupThreads(static_cast<int>(threads_));
    o_.train.seed = static_cast<uint64_t>(seed_);
    o_.train.eval_every = o_.train.ckpt_every = o_.train.steps;
    o_.train.warmup_steps = std::max<int64_t>(1, o_.train.steps / 10);
    eval_.history = o_.history;
    MakeDirs(out_);
    opts.WriteEffective(out_ + "/sft.config.toml");
    nlohmann::json report = RunSft(opts);
    WriteFileAtomic(out_ + "/sft_report.json", report.dump(2) + "\n");
    std::printf("wrote %s/sft/final and %s/sft_report.json\n", out_.c_str(), out_.c_str());
    return 0;
  }

 private:
  // Held-out synthesised pairs (users not trained on) and the test split's real queries.
  void Evaluate(Store& store, Checkpoint& ck, const world::Oracle& oracle, const std::string& when, nlohmann::json& report) {
    GenerationEvalOptions e = eval_;
    e.triplets = out_ + "/corpus/sft_heldout.jsonl";
    report[when]["heldout_pairs"] = EvaluateGeneration(store, ck, oracle, e);
    PrintGeneration((when + " SFT, held-out pairs,").c_str(), report[when]["heldout_pairs"]);
    e.triplets.clear();
    report[when]["test_queries"] = EvaluateGeneration(store, ck, oracle, e);
    PrintGeneration((when + " SFT, test queries,").c_str(), report[when]["test_queries"]);
  }

  nlohmann::json RunSft(const Options&) {
    std::unique_ptr<world::Oracle> oracle;
    if (!world_.empty()) oracle = std::make_unique<world::Oracle>(world::Oracle::Load(world_));
    Store store(store_);
    nlohmann::json report;
    {
      Checkpoint base = LoadCheckpoint(init_);
      report["examples"] = BuildSftCorpus(store, base, init_, triplets_, out_ + "/corpus", o_);
      if (oracle) Evaluate(store, base, *oracle, "before", report);
    }
    Qwen3ForCausalLM model = LoadModel(init_);
    const StageResult r = TrainStage(model, out_ + "/corpus", {"sft"}, {"sft"}, out_, "sft", o_.train, /*resume=*/false,
                                     out_ + "/corpus/tokenizer.json");
    report["final_train_loss"] = r.final_loss;
    for (auto& [s, l] : r.heldout) report["heldout_loss"] = l;
    std::printf("sft: %lld examples, %lld steps, train loss %.4f, held-out loss %.4f\n", report["examples"].get<long long>(),
                static_cast<long long>(r.steps), r.final_loss, report["heldout_loss"].get<double>());
    if (oracle) {
      Checkpoint tuned = LoadCheckpoint(out_ + "/sft/final");
      Evaluate(store, tuned, *oracle, "after", report);
    }
    return report;
  }
  std::string triplets_, store_, init_, out_ = "out/sft", world_;
  SftOptions o_;
  GenerationEvalOptions eval_;
  int64_t seed_ = 1, threads_ = 0;
};

}  // namespace

std::unique_ptr<Command> MakeSftCommand() { return std::make_unique<SftCommand>(); }

}  // namespace muchator::cli
