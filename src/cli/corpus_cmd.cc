// `muchator corpus`: the store as the token shards of the pre-training stages.
#include <cstdio>
#include <filesystem>

#include "cli/command.h"
#include "cli/dist_options.h"
#include "core/file.h"
#include "core/log.h"
#include "corpus/builders.h"
#include "data/store.h"
#include "model/config.h"
#include "pipeline/corpus_step.h"
#include "text/flags.h"
#include "text/item_codec.h"
#include "text/tokenizer.h"

namespace muchator::cli {

namespace {

class CorpusCommand : public Command {
 public:
  std::string name() const override { return "corpus"; }
  std::string description() const override {
    return "Build the pre-training corpora (general, objective, subjective, behaviour, held-out "
           "behaviour) as token "
           "shards, with the item codec's tokens added to the tokenizer";
  }
  void Declare(Options& opts) override {
    AddStore(opts, &store_, "SQLite store from `muchator ingest`").Required();
    AddPath(opts, PathFlag::kTokenizer, &tokenizer_,
            "tokenizer.json or its directory (from `muchator train-tokenizer`)")
        .Required();
    AddOut(opts, &out_,
           "output directory: shards, tokenizer.json with item tokens, codec.json, summary");
    opts.Add(kCodecFlag, &codec_);
    AddSeed(opts, &seed_, "seed of template choice and semantic codes");
    opts.Add("heldout-tail", &o_.heldout_tail, "last events per user kept for U2I perplexity")
        .Range(0, 100000);
    opts.Add("max-events-per-doc", &o_.max_events_per_doc, "longer timelines are split")
        .Range(1, 1e7);
    opts.Add("concept-list-passes", &o_.concept_list_passes,
             "stage 1: times each song is listed under each of its tags and genres (0 = no lists)")
        .Range(0, 1000);
    opts.Add("request-doc-passes", &o_.request_doc_passes,
             "stage 2: documents per logged sft request (0 = none; docs/text.md)")
        .Range(0, 1000);
    opts.Add("drop-profile", &o_.drop_profile, "ablation: no user profile in stage 3");
    opts.Add("drop-state", &o_.drop_state, "ablation: no situational state in stage 3");
    opts.Add("drop-feedback", &o_.drop_feedback, "ablation: no feedback tokens in stage 3");
    opts.Add("drop-history", &o_.drop_history,
             "ablation: every stage 3 event its own document (no item history)");
    opts.Add("shard-tokens", &o_.shard_tokens, "tokens per shard file").Range(1024, 1e12);
    dist_.Declare(opts);
  }
  int Run(const Options& opts) override {
    o_.seed = static_cast<uint64_t>(seed_);
    const std::shared_ptr<dist::Group> group = dist_.Start();
    if (group) {
      o_.rank = group->rank(), o_.ranks = group->size();
      o_.barrier = [g = group.get()] { g->Barrier(); };
    }
    CorpusSummary s = RunCorpus(store_, tokenizer_, codec_, out_, o_);
    if (o_.rank != 0) return 0;
    opts.WriteEffective(out_ + "/corpus.config.toml");
    std::fputs(s.Table().c_str(), stdout);
    return 0;
  }

 private:
  std::string store_, tokenizer_, out_ = "out/corpus", codec_ = "title";
  int64_t seed_ = 1;
  CorpusOptions o_;
  DistOptions dist_;
};

}  // namespace

std::unique_ptr<Command> MakeCorpusCommand() { return std::make_unique<CorpusCommand>(); }

}  // namespace muchator::cli
