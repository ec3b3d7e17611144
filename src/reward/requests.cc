// Requests to answer and the ranking model's song prior (reward/requests.h).
#include "reward/requests.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file.h"
#include "data/store.h"
#include "reward/hybrid.h"
#include "reward/ranker.h"

namespace muchator {

std::vector<EvalRequest> RequestsFromStore(Store& store, const std::string& split, int limit,
                                           const std::function<bool(const Query&)>& keep) {
  std::vector<EvalRequest> out;
  store.ForEachQuery(
      [&](const Query& q) {
        if (q.user.empty() || (limit > 0 && static_cast<int>(out.size()) >= limit) ||
            (keep && !keep(q)))
          return;
        out.push_back({q.user, q.ts, q.state, q.text, q.id});
      },
      split);
  return out;
}

std::vector<EvalRequest> RequestsFromTriplets(const std::string& path, int limit,
                                              const std::function<bool(const std::string&)>& keep) {
  std::vector<EvalRequest> out;
  LineReader reader(path);
  std::string line;
  int64_t line_no = 0;
  while ((limit <= 0 || static_cast<int>(out.size()) < limit) && reader.Next(line)) {
    ++line_no;
    try {
      const auto t = nlohmann::json::parse(line);
      EvalRequest r;
      r.user = t.at("user");
      r.ts = t.at("ts");
      r.query = t.at("query");
      const auto& st = t.at("state");
      r.state = State{st.value("time_of_day", ""), st.value("day_type", ""),
                      st.value("context", ""), st.value("device", ""), st.value("hour", -1)};
      if (!keep || keep(r.query)) out.push_back(std::move(r));
    } catch (const std::exception& e) {
      throw Error(std::string("not a UQ2I triplet: ") + e.what(),
                  path + ":" + std::to_string(line_no),
                  "use a triplets file written by `muchator synth-uq2i`");
    }
  }
  return out;
}

std::vector<UserContext> RequestContexts(Store& store, const Catalog& catalog,
                                         std::span<const EvalRequest> requests, int history) {
  std::vector<UserContext> out;
  for (const auto& q : requests) {
    out.push_back(UserContextFromStore(store, catalog, q.user, q.ts, history));
    out.back().state = q.state;
  }
  return out;
}

std::vector<float> RankerSongPrior(Store& store, const Catalog& catalog, Ranker& ranker,
                                   const std::string& split, int n, int history) {
  const std::vector<EvalRequest> requests = RequestsFromStore(store, split, n);
  if (requests.empty()) return {};
  const auto contexts = RequestContexts(store, catalog, requests, history);
  std::vector<int> rows;
  for (const auto& item : catalog.items) rows.push_back(ranker.SongRow(item.id));
  std::vector<double> sum(rows.size(), 0.0);
  for (size_t k = 0; k < requests.size(); ++k) {
    const auto pred =
        ranker.Predict(MakeRankerContext(requests[k].user, contexts[k], catalog), rows);
    for (size_t i = 0; i < pred.size(); ++i) sum[i] += pred[i].score;
  }
  std::vector<float> mean(sum.size());
  for (size_t i = 0; i < sum.size(); ++i)
    mean[i] = static_cast<float>(sum[i] / static_cast<double>(requests.size()));
  return mean;
}

}  // namespace muchator
