// Reward functions registered by name, and the hybrid reward of the paper (eq. 4 context):
//   R_hyb = l_pers * R_rel_pers + sum_k l_k * R_rule_k
// computed per generated list, with every component returned separately (raw and weighted).
// RL, evaluation and data synthesis choose rewards and weights by configuration, e.g.
// "rel_pers=1,format=0.2,fact=0.2,div=0.2,dedup=0.2" (ParseRewardWeights).
//
// Per-item model judgements aggregate over a list as means over its entries (docs/reward.md):
//   rel      = mean_i R_rel_i                 (R_rel_i = 1 if P(relevant) >= threshold, else 0)
//   prel     = mean_i P(relevant)_i
//   pers     = mean_i score_i / 10            (the ranking model's 0-10 personalisation score)
//   rel_pers = mean_i R_rel_i * score_i / 10  (a personalised but irrelevant song earns nothing)
// where non-catalog entries count with R_rel_i = score_i = 0, so hallucinations lower them too.
#pragma once

#include <functional>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "reward/ranker.h"
#include "reward/rules.h"
#include "text/chat.h"

namespace muchator {

// P(relevant) for (query, catalog item) pairs: pairs k = (queries[query_of[k]], items[k]).
using RelevanceFn =
    std::function<std::vector<float>(std::span<const std::string> queries,
                                     std::span<const int> items, std::span<const int> query_of)>;
// Personalisation score 0-10 for catalog items[k] in listener context contexts[context_of[k]].
using PersonalFn =
    std::function<std::vector<float>(std::span<const RankerContext> contexts,
                                     std::span<const int> items, std::span<const int> context_of)>;

// What reward functions may use; the model functions may be empty when no chosen reward needs them.
struct RewardModels {
  const Catalog* catalog = nullptr;
  RelevanceFn relevance;
  PersonalFn personal;
  double relevance_threshold = 0.5;  // R_rel_i = P(relevant) >= threshold
};

// A list with its per-item model judgements (same order as ListInput::items; empty when the
// corresponding model is not used by any chosen reward).
struct ScoredList {
  const ListInput* in = nullptr;
  std::vector<float> relevance;  // P(relevant)
  std::vector<float> personal;   // 0-10
};

struct RewardSpec {
  std::string description;
  bool needs_relevance = false, needs_personal = false;
  std::function<double(const ScoredList&, const RewardModels&)> fn;
  // Per-item model rewards only: the value for the list's i-th catalog item alone (`fn` is its
  // mean over the list's entries); empty for list-level rewards (the rules).
  std::function<double(const ScoredList&, size_t i, const RewardModels&)> item;
  // Reads ListInput::served / ListInput::labelled: GRPO must be given each request's list.
  bool needs_served = false, needs_labels = false;
  // Reads the catalog items' features (genres, tags, ...), which a checkpoint's codec.json lacks:
  // GRPO fills them from the store.
  bool needs_features = false;
};

// The registry. Built-in: format, fact, div, dedup, rel, prel, pers, rel_pers, prel_pers,
// crel_pers, served, served_rel, served_feat, label.
void RegisterReward(const std::string& name, RewardSpec spec);
// Throws Error listing the registered names when `name` is unknown.
const RewardSpec& FindReward(const std::string& name);
// Whether any reward named in `weights` (ParseRewardWeights) has `need` set, e.g.
// RewardsNeed(weights, &RewardSpec::needs_served).
bool RewardsNeed(const std::map<std::string, double>& weights, bool RewardSpec::*need);
std::vector<std::string> RewardNames();
// The `served_feat` reward of catalog song `item`: the mean, over its genre, tag, language and
// decade features, of the share of the `served` songs that carry that feature (0 when either is
// empty).
double ServedFeatureShare(const Catalog& catalog, const std::vector<int>& served, int item);

// "rel_pers=1,format=0.2" -> {{"rel_pers", 1}, {"format", 0.2}}; throws Error naming the bad part.
std::map<std::string, double> ParseRewardWeights(const std::string& text);

struct RewardBreakdown {
  double total = 0;
  std::map<std::string, double> raw;       // each chosen reward's value in [0, 1]
  std::map<std::string, double> weighted;  // weight * raw
  // Per catalog item of the list (ListInput::items order): the weighted sum of the chosen
  // per-item model rewards (those with RewardSpec::item) for that item alone - what each item
  // earned; their mean over the list's entries is those rewards' part of `total`. Empty when no
  // chosen reward is per-item.
  std::vector<double> items;
  // The judge's P(relevant) of each catalog item of the list (ListInput::items order); empty when
  // no chosen reward needs the judge.
  std::vector<float> relevance;
};

// The ranking model as a PersonalFn over `catalog`'s items (ids mapped to the model's rows once;
// items the model has not seen score as cold items). Both must outlive the function.
PersonalFn MakePersonalFn(Ranker& ranker, const Catalog& catalog);
// `base` less weight x (prior[item] - the prior's mean), clamped to 0-10: what the listener likes
// beyond what every listener likes (prior: each catalog item's mean score over many listeners,
// RankerSongPrior in eval/offline.h), on the same scale. weight 0 or an empty prior: `base`.
PersonalFn DebiasedPersonalFn(PersonalFn base, std::vector<float> prior, double weight);
// A listener's ranking-model context from the chat context (history items are catalog indexes).
RankerContext MakeRankerContext(const std::string& user, const UserContext& ctx,
                                const Catalog& catalog);
// A parsed answer as a reward input; recent positives = liked or finished items of `history`.
ListInput MakeListInput(const ParsedAnswer& answer, const std::string& query, int expected_items,
                        int context, std::span<const HistoryEntry> history);

class HybridReward {
 public:
  // Throws Error for an unknown reward name or a missing model a chosen reward needs.
  HybridReward(std::map<std::string, double> weights, RewardModels models);
  // Rewards of `lists`; lists[i].context indexes `contexts` (needed by personal rewards). The
  // model judgements of all lists are computed in one batch each.
  std::vector<RewardBreakdown> Compute(std::span<const ListInput> lists,
                                       std::span<const RankerContext> contexts);
  const std::map<std::string, double>& weights() const { return weights_; }

 private:
  std::map<std::string, double> weights_;
  RewardModels models_;
  bool need_rel_ = false, need_pers_ = false;
};

}  // namespace muchator
