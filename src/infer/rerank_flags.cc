// The reranked answer's command-line flags (infer/rerank_flags.h).
#include "infer/rerank_flags.h"

#include "infer/flags.h"

namespace muchator {

void DeclareRerankFlags(Options& opts, const RerankFlagTargets& t) {
  opts.Add("rerank-pool", t.pool,
           "with a ranking model, the reranked answer: the model proposes this many songs "
           "(--rerank-source) and the answer is their best by the ranking model's score for the "
           "listener and the model's order (0 = off: the model's own list; docs/metrics.md)")
      .Range(0, 1000);
  opts.Add("rerank-model-weight", t.model_weight,
           "reranking: a pool song's order is the ranking model's score (0-10) minus this times "
           "log2(1 + its place in the pool) (0 = the ranking model alone)")
      .Range(0, 100);
  opts.Add("rerank-evidence-weight", t.evidence_weight,
           "first-song pool: a pool song's order also adds this times its first-song score (less "
           "the prior, in nats) minus the pool's best (0 = off)")
      .Range(0, 100);
  opts.Add("rerank-source", t.source,
           "the pool: first (the --rerank-pool songs the model scores highest at its answer's "
           "first song; one-token item codecs such as atomic, else list) or list (a list the model "
           "decodes song by song)")
      .OneOf({"first", "list"});
  opts.Add("rerank-prior-weight", t.prior_weight,
           "first-song pool: rank songs by their score minus this times their mean first-song "
           "log-probability over --prior-requests requests of --prior-split (songs the model puts "
           "first whatever is asked count less; 0 = off)")
      .Range(0, 10);
  opts.Add("rerank-ranker-prior-weight", t.ranker_prior_weight,
           "reranking: a pool song's ranking-model score less this times its mean score over the "
           "listeners of --prior-requests requests of --prior-split (what every listener likes "
           "counts less; 0 = off)")
      .Range(0, 10);
  opts.Add("prior-split", t.prior_split, "training split the priors' requests come from");
  opts.Add(kPriorRequestsFlag, t.prior_requests);
}

}  // namespace muchator
