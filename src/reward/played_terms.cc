#include "reward/played_terms.h"

#include <algorithm>
#include <cmath>
#include <unordered_set>

#include "core/error.h"
#include "core/rng.h"
#include "retrieval/dense.h"

namespace muchator {

std::vector<PlayedExample> PlayedExamples(const Query& q) {
  std::vector<PlayedExample> out;
  if (!q.extra.is_object() || !q.extra.contains("played")) return out;
  const auto& played = q.extra["played"];
  const std::string where = "query " + q.id + ": extra.played";
  const char* hint = "write each play as [song id, \"like\"|\"finish\"|\"skip\"|\"dislike\"]";
  if (!played.is_array()) throw Error("not an array of plays", where, hint);
  for (size_t i = 0; i < played.size(); ++i) {
    const auto& e = played[i];
    const auto feedback = e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()
                              ? ParseFeedback(e[1].get<std::string>())
                              : std::nullopt;
    if (!feedback)
      throw Error("entry " + std::to_string(i) + " is not [song id, feedback]: " + e.dump(), where,
                  hint);
    out.push_back({q.text, q.id, e[0].get<std::string>(),
                   *feedback == Feedback::kLike || *feedback == Feedback::kFinish});
  }
  return out;
}

std::vector<std::string> SongTags(const Song& s) {
  std::vector<std::string> t;
  for (const auto& g : s.genres) t.push_back("g:" + g);
  for (const auto& x : s.tags) t.push_back("t:" + x);
  if (!s.language.empty()) t.push_back("l:" + s.language);
  if (s.year > 0) t.push_back("d:" + std::to_string(s.year / 10 * 10) + "s");
  return t;
}

namespace {
std::string Cross(const std::string& feature, const std::string& tag) {
  return feature + '\t' + tag;
}
}  // namespace

PlayedTerms PlayedTerms::Fit(const std::vector<PlayedExample>& examples,
                             std::unordered_map<std::string, std::vector<std::string>> song_tags,
                             const PlayedTermOptions& o) {
  PlayedTerms t;
  t.song_tags_ = std::move(song_tags);
  // Requests (their features once each) and tags as small integers.
  std::unordered_map<std::string, int> request_of, tag_of;
  std::vector<std::vector<std::string>> features;
  std::vector<std::string> tags;
  struct Row {
    int request;
    std::vector<int> tags;
    bool positive;
    double offset;
  };
  std::vector<Row> rows;
  for (const auto& e : examples) {
    auto song = t.song_tags_.find(e.song);
    if (song == t.song_tags_.end()) continue;
    // A request is its id (texts repeat across requests); without one, its text.
    auto [r, added] = request_of.try_emplace(e.query_id.empty() ? e.query : e.query_id,
                                             static_cast<int>(features.size()));
    if (added) features.push_back(DenseFeatures(e.query));
    Row row{r->second, {}, e.positive, e.offset};
    for (const auto& tag : song->second) {
      auto [it, fresh] = tag_of.try_emplace(tag, static_cast<int>(tags.size()));
      if (fresh) tags.push_back(tag);
      row.tags.push_back(it->second);
    }
    rows.push_back(std::move(row));
  }
  // The crosses met in enough distinct requests get a weight.
  std::vector<std::unordered_set<int>> tags_of_request(features.size());
  for (const auto& row : rows)
    tags_of_request[static_cast<size_t>(row.request)].insert(row.tags.begin(), row.tags.end());
  std::unordered_map<std::string, int> support;
  for (size_t r = 0; r < features.size(); ++r)
    for (const auto& f : std::unordered_set<std::string>(features[r].begin(), features[r].end()))
      for (int tag : tags_of_request[r]) ++support[Cross(f, tags[static_cast<size_t>(tag)])];
  std::unordered_map<std::string, int> cross_of;
  std::vector<std::pair<std::string, std::string>> crosses;  // (feature, tag) of each weight
  for (size_t r = 0; r < features.size(); ++r)
    for (const auto& f : features[r])
      for (int tag : tags_of_request[r]) {
        const std::string key = Cross(f, tags[static_cast<size_t>(tag)]);
        if (support[key] >= o.min_requests &&
            cross_of.try_emplace(key, static_cast<int>(crosses.size())).second)
          crosses.push_back({f, tags[static_cast<size_t>(tag)]});
      }
  // Each row's crosses, then SGD on the log loss.
  std::vector<std::vector<int>> row_crosses(rows.size());
  for (size_t i = 0; i < rows.size(); ++i)
    for (const auto& f : features[static_cast<size_t>(rows[i].request)])
      for (int tag : rows[i].tags)
        if (auto it = cross_of.find(Cross(f, tags[static_cast<size_t>(tag)])); it != cross_of.end())
          row_crosses[i].push_back(it->second);
  std::vector<double> w(crosses.size(), 0.0), bias(tags.size(), 0.0);
  double intercept = 0, offset_weight = 1;
  std::vector<size_t> order(rows.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  Rng rng = Rng::Derive(o.seed, "played-terms");
  nlohmann::json losses = nlohmann::json::array();
  for (int epoch = 0; epoch < o.epochs && !rows.empty(); ++epoch) {
    rng.Shuffle(order);
    double loss = 0;
    for (size_t i : order) {
      double z = intercept + offset_weight * rows[i].offset;
      for (int tag : rows[i].tags) z += bias[static_cast<size_t>(tag)];
      for (int k : row_crosses[i]) z += w[static_cast<size_t>(k)];
      const double p = 1 / (1 + std::exp(-std::clamp(z, -30.0, 30.0)));
      const double y = rows[i].positive ? 1 : 0, g = p - y;
      loss -= y * std::log(std::max(p, 1e-9)) + (1 - y) * std::log(std::max(1 - p, 1e-9));
      intercept -= o.lr * g;
      offset_weight -= o.lr * g * rows[i].offset;
      for (int tag : rows[i].tags) bias[static_cast<size_t>(tag)] -= o.lr * g;
      for (int k : row_crosses[i])
        w[static_cast<size_t>(k)] -= o.lr * (g + o.l2 * w[static_cast<size_t>(k)]);
    }
    losses.push_back(loss / static_cast<double>(rows.size()));
  }
  int64_t kept = 0;
  for (size_t k = 0; k < crosses.size(); ++k)
    if (std::abs(w[k]) >= o.min_weight && w[k] != 0)
      t.weights_[crosses[k].first][crosses[k].second] = static_cast<float>(w[k]), ++kept;
  // The report: what it saw, and its strongest weights (for a person to read).
  std::vector<size_t> strongest(crosses.size());
  for (size_t k = 0; k < strongest.size(); ++k) strongest[k] = k;
  const size_t shown = std::min<size_t>(12, strongest.size());
  std::partial_sort(strongest.begin(), strongest.begin() + static_cast<long>(shown),
                    strongest.end(), [&](size_t a, size_t b) {
                      return std::abs(w[a]) != std::abs(w[b]) ? std::abs(w[a]) > std::abs(w[b])
                                                              : a < b;
                    });
  nlohmann::json top = nlohmann::json::array();
  for (size_t j = 0; j < shown; ++j) {
    const size_t k = strongest[j];
    top.push_back({crosses[k].first + " x " + crosses[k].second, w[k]});
  }
  int64_t positives = 0;
  for (const auto& row : rows) positives += row.positive;
  t.report_ = {{"examples", rows.size()},
               {"positives", positives},
               {"requests", features.size()},
               {"crosses_met", support.size()},
               {"crosses_fitted", crosses.size()},  // met in min_requests requests
               {"crosses_kept", kept},              // and weighing min_weight or more
               {"min_requests", o.min_requests},
               {"offset_weight", offset_weight},
               {"log_loss_per_epoch", losses},
               {"strongest", top}};
  return t;
}

PlayedTerms::TagWeights PlayedTerms::WeighTags(const std::vector<std::string>& features) const {
  TagWeights t;
  for (const auto& f : features)
    if (auto it = weights_.find(f); it != weights_.end())
      for (const auto& [tag, w] : it->second) t[tag] += w;
  return t;
}

double PlayedTerms::Score(const TagWeights& tags, const std::string& song) const {
  auto s = song_tags_.find(song);
  if (s == song_tags_.end()) return 0;
  double z = 0;
  for (const auto& tag : s->second)
    if (auto it = tags.find(tag); it != tags.end()) z += it->second;
  return z;
}

double PlayedTerms::Score(const std::vector<std::string>& features, const std::string& song) const {
  return Score(WeighTags(features), song);
}

nlohmann::json PlayedTerms::ToJson() const {
  return {{"songs", song_tags_}, {"weights", weights_}, {"report", report_}};
}

PlayedTerms PlayedTerms::FromJson(const nlohmann::json& j, const std::string& where) {
  PlayedTerms t;
  try {
    t.song_tags_ = j.at("songs").get<decltype(t.song_tags_)>();
    t.weights_ = j.at("weights").get<decltype(t.weights_)>();
    t.report_ = j.value("report", nlohmann::json::object());
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("not a played-contrast term: ") + e.what(), where, "rebuild the judge");
  }
  return t;
}

}  // namespace muchator
