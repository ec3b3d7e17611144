#include "reward/hybrid.h"

#include <algorithm>
#include <cmath>
#include <mutex>

#include "core/error.h"
#include "core/strings.h"

namespace muchator {
namespace {

// Sum over the list's catalog items of f(i), divided by all its entries (0 for an empty list).
template <class F>
double MeanOverEntries(const ScoredList& s, F f) {
  if (s.in->entries() == 0) return 0.0;
  double sum = 0;
  for (size_t i = 0; i < s.in->items.size(); ++i) sum += f(i);
  return sum / s.in->entries();
}

// The features of a catalog song that describe its sound and use (genre:, tag:, lang:,
// decade:), not who made it: artist features would pay for repeating the served artists.
bool IsProfileFeature(const std::string& f) { return f.rfind("artist:", 0) != 0; }

}  // namespace

double ServedFeatureShare(const Catalog& catalog, const std::vector<int>& served, int item) {
  if (served.empty() || item < 0 || item >= static_cast<int>(catalog.items.size())) return 0.0;
  double sum = 0;
  int n = 0;
  for (const auto& f : catalog.items[item].features) {
    if (!IsProfileFeature(f)) continue;
    int carry = 0;
    for (int j : served) {
      const auto& g = catalog.items[j].features;
      carry += std::find(g.begin(), g.end(), f) != g.end();
    }
    sum += static_cast<double>(carry) / served.size();
    ++n;
  }
  return n ? sum / n : 0.0;
}

namespace {

std::map<std::string, RewardSpec>& Registry() {
  static std::map<std::string, RewardSpec> r = [] {
    std::map<std::string, RewardSpec> m;
    // The rules: list-level, no model, no per-item value.
    auto rule = [&m](const std::string& name, const char* description,
                     std::function<double(const ScoredList&, const RewardModels&)> f) {
      m[name] = {description, false, false, std::move(f), {}};
    };
    rule("format", "the answer parses into the expected numbered list",
         [](const ScoredList& s, const RewardModels&) { return FormatReward(*s.in); });
    rule("fact", "share of the list's entries that exist in the catalog",
         [](const ScoredList& s, const RewardModels&) { return FactualityReward(*s.in); });
    rule("div", "no repeated artist and no title variants of an earlier item",
         [](const ScoredList& s, const RewardModels& m) {
           return DiversityReward(*s.in, *m.catalog);
         });
    rule("dedup", "no items from the listener's recent positive history",
         [](const ScoredList& s, const RewardModels&) { return DedupReward(*s.in); });
    // The per-item model rewards: each is the mean over the list's entries of its value for one
    // song (RewardSpec::item), and GRPO's per-item advantages use that value directly.
    auto per_item = [&m](const std::string& name, const char* description, bool rel, bool pers,
                         std::function<double(const ScoredList&, size_t, const RewardModels&)> f) {
      m[name] = {description, rel, pers,
                 [f](const ScoredList& s, const RewardModels& models) {
                   return MeanOverEntries(s, [&](size_t i) { return f(s, i, models); });
                 },
                 f};
    };
    per_item("rel", "mean binary relevance gate R_rel over the list (relevance judge)", true, false,
             [](const ScoredList& s, size_t i, const RewardModels& m) {
               return s.relevance[i] >= m.relevance_threshold ? 1.0 : 0.0;
             });
    // The judge's probability itself: with --advantage decoupled (GRPO standardises each reward
    // within its group on its own) the request's fit counts as much as the listener's taste.
    per_item("prel", "mean P(relevant) over the list (relevance judge, no gate)", true, false,
             [](const ScoredList& s, size_t i, const RewardModels&) { return s.relevance[i]; });
    per_item(
        "pers", "mean personalisation score / 10 over the list (ranking model)", false, true,
        [](const ScoredList& s, size_t i, const RewardModels&) { return s.personal[i] / 10.0; });
    per_item("rel_pers", "mean of R_rel * score / 10 over the list: the paper's R_rel * R_pers",
             true, true, [](const ScoredList& s, size_t i, const RewardModels& m) {
               return s.relevance[i] >= m.relevance_threshold ? s.personal[i] / 10.0 : 0.0;
             });
    // The judge's probability instead of its gate: a song the judge finds more specific to the
    // request earns more, so among songs that all pass the gate the reward still prefers the
    // request's own songs to the listener's general favourites.
    per_item("prel_pers", "mean of P(relevant) * score / 10 over the list: the soft R_rel * R_pers",
             true, true, [](const ScoredList& s, size_t i, const RewardModels&) {
               return s.relevance[i] * s.personal[i] / 10.0;
             });
    // The gate kept (0 below the threshold t) and graded above it by how far the song clears it,
    // as a share of the way to certainty: (P - t) / (1 - t). The prf judge's P of the songs a
    // policy lists sits in a narrow band above t (a cosine, docs/reward.md), so P itself
    // (prel_pers) barely separates them and its margin over the gate spreads them over [0, 1].
    // As GRPO's reward it did no better than rel_pers (docs/rl.md, 2026-12-06).
    per_item("crel_pers",
             "mean of (P(relevant) - t) / (1 - t), 0 below the judge's threshold t, * score / 10: "
             "the gate graded by how far a song clears it",
             true, true, [](const ScoredList& s, size_t i, const RewardModels& m) {
               const double t = m.relevance_threshold, p = s.relevance[i];
               return p < t || t >= 1 ? 0.0 : (p - t) / (1 - t) * s.personal[i] / 10.0;
             });
    // Agreement with the served list (ListInput::served): the share of the list's entries that
    // the served system - the starting model's pool ordered by the ranking model with the
    // model's own evidence (infer/rerank.h) - also lists for this request. It carries what the
    // judge cannot see (the model's own sense of which songs fit, exclusions included) into the
    // reward, at a point of the relevance-utility trade-off the served order was chosen for
    // (docs/rl.md, "The served list as a reward").
    per_item("served",
             "share of the list's entries that the served list (starting model's pool reranked "
             "by the ranking model) also holds",
             false, false, [](const ScoredList& s, size_t i, const RewardModels&) {
               const auto& served = s.in->served;
               return std::find(served.begin(), served.end(), s.in->items[i]) != served.end() ? 1.0
                                                                                              : 0.0;
             });
    // The served list's songs that the judge also passes: the served reward gated by R_rel. The
    // served list trades some of the model's relevance for the listener's taste (its relevance@10
    // is below the model's own), so moving towards all of it moves relevance down; the gate
    // rewards only the served songs the judge finds fit the request.
    per_item("served_rel",
             "share of the list's entries that the served list also holds and the relevance "
             "judge passes: served * R_rel",
             true, false, [](const ScoredList& s, size_t i, const RewardModels& m) {
               const auto& served = s.in->served;
               return s.relevance[i] >= m.relevance_threshold &&
                              std::find(served.begin(), served.end(), s.in->items[i]) !=
                                  served.end()
                          ? 1.0
                          : 0.0;
             });
    // The served list's profile instead of its songs: how common song i's genres, tags, language
    // and decade are among the served songs (the mean over i's features of the share of served
    // songs that carry it). `served` pays only for the served songs themselves, ~1 rollout song
    // in 5, so a song of the request's genre outside the served list earns no more than one of
    // the listener's favourite genre; this pays for what the served list holds in common (the
    // request's genre and situation, its languages) wherever the song is.
    per_item("served_feat",
             "mean over the song's genres, tags, language and decade of the share of the served "
             "list's songs that carry it",
             false, false, [](const ScoredList& s, size_t i, const RewardModels& m) {
               return ServedFeatureShare(*m.catalog, s.in->served, s.in->items[i]);
             });
    // The request's own log: the songs its listener liked or finished after asking (the store's
    // `relevant` labels of a training request). Request and taste at once, from the platform's
    // data, never the oracle; most rollout songs were never played, so it is sparse.
    per_item("label",
             "share of the list's entries labelled relevant for the request (queries.jsonl "
             "`relevant`: the songs its listener liked or finished)",
             false, false, [](const ScoredList& s, size_t i, const RewardModels&) {
               const auto& l = s.in->labelled;
               return std::find(l.begin(), l.end(), s.in->items[i]) != l.end() ? 1.0 : 0.0;
             });
    m["served"].needs_served = m["served_rel"].needs_served = m["served_feat"].needs_served = true;
    m["label"].needs_labels = true;
    m["served_feat"].needs_features = true;
    return m;
  }();
  return r;
}

std::mutex& RegistryMutex() {
  static std::mutex m;
  return m;
}

}  // namespace

void RegisterReward(const std::string& name, RewardSpec spec) {
  std::lock_guard<std::mutex> lock(RegistryMutex());
  Registry()[name] = std::move(spec);
}

const RewardSpec& FindReward(const std::string& name) {
  std::lock_guard<std::mutex> lock(RegistryMutex());
  auto it = Registry().find(name);
  if (it == Registry().end()) {
    std::vector<std::string> names;
    for (const auto& [n, s] : Registry()) names.push_back(n);
    throw Error("unknown reward '" + name + "'", "", "known rewards: " + JoinStrings(names, ", "));
  }
  return it->second;
}

bool RewardsNeed(const std::map<std::string, double>& weights, bool RewardSpec::*need) {
  for (const auto& [name, w] : weights)
    if (FindReward(name).*need) return true;
  return false;
}

std::vector<std::string> RewardNames() {
  std::lock_guard<std::mutex> lock(RegistryMutex());
  std::vector<std::string> names;
  for (const auto& [n, s] : Registry()) names.push_back(n);
  return names;
}

std::map<std::string, double> ParseRewardWeights(const std::string& text) {
  std::map<std::string, double> out;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t end = std::min(text.find(',', start), text.size());
    const std::string part = text.substr(start, end - start);
    start = end + 1;
    if (part.find_first_not_of(' ') == std::string::npos) continue;
    const size_t eq = part.find('=');
    double w = NAN;
    if (eq != std::string::npos) {
      try {
        size_t used = 0;
        w = std::stod(part.substr(eq + 1), &used);
        if (part.substr(eq + 1 + used).find_first_not_of(' ') != std::string::npos) w = NAN;
      } catch (const std::exception&) {
      }
    }
    if (eq == std::string::npos || !std::isfinite(w))
      throw Error("reward weight '" + part + "' is not NAME=NUMBER", "",
                  "e.g. rel_pers=1,format=0.2");
    std::string name = part.substr(0, eq);
    name.erase(0, name.find_first_not_of(' '));
    name.erase(name.find_last_not_of(' ') + 1);
    FindReward(name);  // throws for an unknown name
    out[name] = w;
  }
  if (out.empty()) throw Error("no reward weights given", "", "e.g. rel_pers=1,format=0.2");
  return out;
}

PersonalFn MakePersonalFn(Ranker& ranker, const Catalog& catalog) {
  std::vector<int> rows(catalog.items.size());
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = ranker.SongRow(catalog.items[i].id);
  return [&ranker, rows = std::move(rows)](std::span<const RankerContext> contexts,
                                           std::span<const int> items,
                                           std::span<const int> context_of) {
    std::vector<int> r(items.size());
    for (size_t k = 0; k < items.size(); ++k)
      r[k] = items[k] >= 0 && static_cast<size_t>(items[k]) < rows.size()
                 ? rows[static_cast<size_t>(items[k])]
                 : 0;
    std::vector<float> out;
    for (const auto& p : ranker.Predict(contexts, r, context_of)) out.push_back(p.score);
    return out;
  };
}

PersonalFn DebiasedPersonalFn(PersonalFn base, std::vector<float> prior, double weight) {
  if (weight == 0 || prior.empty()) return base;
  double mean = 0;
  for (float x : prior) mean += x;
  mean /= static_cast<double>(prior.size());
  return [base = std::move(base), prior = std::move(prior), weight, mean](
             std::span<const RankerContext> contexts, std::span<const int> items,
             std::span<const int> context_of) {
    std::vector<float> out = base(contexts, items, context_of);
    for (size_t k = 0; k < out.size(); ++k) {
      if (items[k] < 0 || static_cast<size_t>(items[k]) >= prior.size()) continue;
      const double shift = weight * (prior[static_cast<size_t>(items[k])] - mean);
      out[k] = static_cast<float>(std::clamp(out[k] - shift, 0.0, 10.0));
    }
    return out;
  };
}

RankerContext MakeRankerContext(const std::string& user, const UserContext& ctx,
                                const Catalog& catalog) {
  RankerContext r;
  r.user = user;
  r.profile = ctx.profile;
  r.state = ctx.state;
  for (const auto& h : ctx.history)
    r.history.push_back({catalog.items.at(static_cast<size_t>(h.item)).id, h.feedback});
  return r;
}

ListInput MakeListInput(const ParsedAnswer& answer, const std::string& query, int expected_items,
                        int context, std::span<const HistoryEntry> history) {
  ListInput in;
  in.items = answer.items;
  in.invalid_items = answer.invalid_items;
  in.well_formed = answer.well_formed();
  in.expected_items = expected_items;
  in.query = query;
  in.context = context;
  for (const auto& h : history)
    if (h.feedback == Feedback::kLike || h.feedback == Feedback::kFinish)
      in.recent_positive.insert(h.item);
  return in;
}

HybridReward::HybridReward(std::map<std::string, double> weights, RewardModels models)
    : weights_(std::move(weights)), models_(std::move(models)) {
  if (!models_.catalog) throw Error("rewards need the catalog");
  for (const auto& [name, w] : weights_) {
    const RewardSpec& s = FindReward(name);
    need_rel_ |= s.needs_relevance;
    need_pers_ |= s.needs_personal;
  }
  if (need_rel_ && !models_.relevance)
    throw Error("a chosen reward needs the relevance judge, and none was given", "",
                "give a judge (train-judge)");
  if (need_pers_ && !models_.personal)
    throw Error("a chosen reward needs the ranking model, and none was given", "",
                "give a ranker (train-ranker)");
}

std::vector<RewardBreakdown> HybridReward::Compute(std::span<const ListInput> lists,
                                                   std::span<const RankerContext> contexts) {
  std::vector<ScoredList> scored(lists.size());
  std::vector<int> items, owner, group;
  for (size_t l = 0; l < lists.size(); ++l) {
    scored[l].in = &lists[l];
    for (int item : lists[l].items) items.push_back(item), owner.push_back(static_cast<int>(l));
  }
  if (need_rel_ && !items.empty()) {
    // One entry per distinct request (a GRPO group's lists share theirs): judged once each.
    std::vector<std::string> queries;
    std::map<std::string, int> query_index;
    std::vector<int> query_of;
    for (int l : owner) {
      auto [it, added] = query_index.try_emplace(lists[static_cast<size_t>(l)].query,
                                                 static_cast<int>(queries.size()));
      if (added) queries.push_back(lists[static_cast<size_t>(l)].query);
      query_of.push_back(it->second);
    }
    const auto p = models_.relevance(queries, items, query_of);
    for (size_t k = 0; k < items.size(); ++k)
      scored[static_cast<size_t>(owner[k])].relevance.push_back(p[k]);
  }
  if (need_pers_ && !items.empty()) {
    for (size_t k = 0; k < items.size(); ++k) {
      const int c = lists[static_cast<size_t>(owner[k])].context;
      if (c < 0 || static_cast<size_t>(c) >= contexts.size())
        throw Error("a list's listener context is missing (ListInput::context out of range)");
      group.push_back(c);
    }
    const auto s = models_.personal(contexts, items, group);
    for (size_t k = 0; k < items.size(); ++k)
      scored[static_cast<size_t>(owner[k])].personal.push_back(s[k]);
  }
  // The chosen rewards, looked up once per batch (each lookup takes the registry's lock), and
  // the per-item ones among them with their weights (empty: no per-item values).
  std::vector<const RewardSpec*> specs;
  std::vector<std::pair<double, const RewardSpec*>> item_rewards;
  for (const auto& [name, w] : weights_) {
    specs.push_back(&FindReward(name));
    if (specs.back()->item) item_rewards.push_back({w, specs.back()});
  }
  std::vector<RewardBreakdown> out(lists.size());
  for (size_t l = 0; l < lists.size(); ++l) {
    size_t r = 0;
    for (const auto& [name, w] : weights_) {
      const double raw = specs[r++]->fn(scored[l], models_);
      out[l].raw[name] = raw;
      out[l].weighted[name] = w * raw;
      out[l].total += w * raw;
    }
    for (size_t i = 0; !item_rewards.empty() && i < scored[l].in->items.size(); ++i) {
      double v = 0;
      for (const auto& [w, spec] : item_rewards) v += w * spec->item(scored[l], i, models_);
      out[l].items.push_back(v);
    }
    out[l].relevance = std::move(scored[l].relevance);
  }
  return out;
}

}  // namespace muchator
