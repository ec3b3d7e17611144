#include "reward/judge_train.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <unordered_map>
#include <unordered_set>

#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "core/rng.h"
#include "core/stats.h"
#include "corpus/shard.h"
#include "data/store.h"
#include "infer/checkpoint.h"
#include "infer/rerank.h"
#include "model/safetensors.h"
#include "reward/ranker.h"
#include "reward/requests.h"
#include "text/special_tokens.h"
#include "world/concepts.h"
#include "world/oracle.h"
#include "world/text.h"

namespace muchator {
namespace {

namespace fs = std::filesystem;

constexpr size_t kCalibrationPairs = 1000;  // training pairs the threshold is chosen on

struct SongInfo {
  std::vector<std::string> ids;
  std::unordered_map<std::string, std::vector<int>> by_genre;  // genre -> song rows
  std::unordered_map<std::string, int> row;                    // id -> song row
  std::vector<std::vector<std::string>> genres;
};

SongInfo ReadSongs(Store& store) {
  SongInfo s;
  store.ForEachSong([&](const Song& song) {
    const int row = static_cast<int>(s.ids.size());
    s.ids.push_back(song.id);
    s.row.emplace(song.id, row);
    s.genres.push_back(song.genres);
    for (const auto& g : song.genres) s.by_genre[g].push_back(row);
  });
  return s;
}

// Pairs of one query given a relevance predicate over song rows and its positives (`known`: the
// query's labelled relevant songs; empty: up to o.positives found by sampling the catalog).
template <class Relevant>
void PairsForQuery(const std::string& text, const SongInfo& songs, Relevant relevant,
                   std::vector<int> known, const JudgeLabelOptions& o, Rng& rng,
                   std::vector<JudgePair>& out) {
  const int n = static_cast<int>(songs.ids.size());
  std::vector<int> pos;
  if (!known.empty()) {
    rng.Shuffle(known);
    for (int r : known)
      if (static_cast<int>(pos.size()) < o.positives &&
          std::find(pos.begin(), pos.end(), r) == pos.end())
        pos.push_back(r);
  }
  for (int tries = 0; known.empty() && tries < 200 && static_cast<int>(pos.size()) < o.positives;
       ++tries) {
    const int r = static_cast<int>(rng.Below(static_cast<uint64_t>(n)));
    if (relevant(r) && std::find(pos.begin(), pos.end(), r) == pos.end()) pos.push_back(r);
  }
  if (pos.empty()) return;
  for (int r : pos) out.push_back({text, songs.ids[static_cast<size_t>(r)], true, false});
  int hard = 0;
  for (int tries = 0; tries < 100 && hard < o.hard_negatives; ++tries) {
    const auto& g = songs.genres[static_cast<size_t>(pos[rng.Below(pos.size())])];
    if (g.empty()) break;
    const auto& same = songs.by_genre.at(g[rng.Below(g.size())]);
    const int r = same[rng.Below(same.size())];
    if (!relevant(r)) out.push_back({text, songs.ids[static_cast<size_t>(r)], false, true}), ++hard;
  }
  int random = 0;
  for (int tries = 0; tries < 100 && random < o.random_negatives; ++tries) {
    const int r = static_cast<int>(rng.Below(static_cast<uint64_t>(n)));
    if (!relevant(r))
      out.push_back({text, songs.ids[static_cast<size_t>(r)], false, false}), ++random;
  }
}

// Where a judge's labels came from, for its report (MakeJudgeLabels: never the oracle for
// training).
const char* LabelSource(const world::Oracle* oracle) {
  return oracle ? "training: queries' relevant lists; held out: oracle" : "queries' relevant lists";
}

void Cap(std::vector<JudgePair>& v, int64_t max, Rng& rng) {
  rng.Shuffle(v);
  if (static_cast<int64_t>(v.size()) > max) v.resize(static_cast<size_t>(max));
}

}  // namespace

JudgeLabels MakeJudgeLabels(Store& store, const world::Oracle* oracle, const JudgeLabelOptions& o) {
  const SongInfo songs = ReadSongs(store);
  if (songs.ids.empty()) throw Error("the store has no songs", store.path());
  JudgeLabels labels;
  Rng rng = Rng::Derive(o.seed, "judge-labels");
  Rng calibration_rng = Rng::Derive(o.seed, "judge-calibration");
  // Training queries that use a held-out (test) form are dropped: the judge must not see them.
  const auto has_test_form =
      oracle ? world::QueryFormMatcher(*oracle->model().concepts, /*train_forms=*/false)
             : std::function<bool(const std::string&)>();
  // Pairs from the query's own labels (the songs its listener liked among those played):
  // positives; negatives are other songs, unlabelled and mostly irrelevant to one request. False
  // when it has none in the catalog.
  auto logged_pairs = [&](const Query& q, Rng& r, std::vector<JudgePair>& out) {
    std::unordered_set<std::string> rel(q.relevant.begin(), q.relevant.end());
    std::vector<int> known;
    for (const auto& id : q.relevant)
      if (auto it = songs.row.find(id); it != songs.row.end()) known.push_back(it->second);
    if (known.empty()) return false;
    PairsForQuery(
        q.text, songs, [&](int row) { return rel.count(songs.ids[static_cast<size_t>(row)]) > 0; },
        std::move(known), o, r, out);
    return true;
  };
  store.ForEachQuery([&](const Query& q) {
    const bool heldout = q.split == "test", rl = q.split == "rl";
    if (!heldout && oracle && has_test_form(q.text)) {
      ++labels.dropped_queries;
      return;
    }
    if (rl) logged_pairs(q, calibration_rng, labels.calibration);
    if (rl && !oracle) return;
    auto& out = heldout ? labels.heldout : rl ? labels.heldout_seen : labels.train;
    if (oracle && &out != &labels.train) {
      // The oracle labels only what is measured: it never teaches the judge (a platform has no
      // oracle; what trains comes through the ingestion format, below).
      const world::QueryFacets f =
          oracle->FacetsOf(q.id).count() > 0 ? oracle->FacetsOf(q.id) : oracle->ParseQuery(q.text);
      if (f.count() == 0) return;
      PairsForQuery(
          q.text, songs,
          [&](int r) { return oracle->Relevant(f, songs.ids[static_cast<size_t>(r)]); }, {}, o, rng,
          out);
    } else if (logged_pairs(q, rng, out) && &out == &labels.train) {
      labels.train_queries.push_back({q.text, q.relevant});
    }
    if (o.played && &out == &labels.train)
      for (auto& e : PlayedExamples(q)) labels.played.push_back(std::move(e));
  });
  Cap(labels.train, o.max_train, rng);
  Cap(labels.heldout, o.max_heldout, rng);
  Cap(labels.heldout_seen, o.max_heldout, rng);
  Cap(labels.calibration, static_cast<int64_t>(kCalibrationPairs), calibration_rng);
  if (labels.train.empty())
    throw Error(
        "no labelled training pairs: the store has no training (not test, not rl) queries with "
        "known relevant songs",
        store.path(),
        oracle ? "check the world's queries"
               : "give --world (an oracle) or queries with \"relevant\" songs");
  if (labels.heldout.empty())
    spdlog::warn(
        "no held-out judge pairs (no queries with split \"test\"): the report has no held-out "
        "metrics");
  return labels;
}

double BestF1Threshold(const std::vector<float>& prob, const std::vector<bool>& relevant) {
  std::vector<std::pair<float, bool>> v;
  int64_t positives = 0;
  for (size_t i = 0; i < prob.size(); ++i)
    v.push_back({prob[i], relevant[i]}), positives += relevant[i];
  if (positives == 0) return 0.5;
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  // Sweeping the threshold down through the sorted scores: at v[i].first, items 0..i say yes.
  double best_f1 = -1, best = 0.5;
  int64_t tp = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    tp += v[i].second;
    if (i + 1 < v.size() && v[i + 1].first == v[i].first) continue;  // ties decide together
    const double f1 = 2.0 * tp / (static_cast<double>(i + 1) + positives);
    if (f1 > best_f1) best_f1 = f1, best = v[i].first;
  }
  return best;
}

nlohmann::json ToJson(const JudgeScores& s) {
  return {{"pairs", s.pairs},       {"positives", s.positives},
          {"accuracy", s.accuracy}, {"precision", s.precision},
          {"recall", s.recall},     {"f1", s.f1},
          {"auc", s.auc},           {"auc_vs_hard_negatives", s.auc_vs_hard_negatives}};
}

nlohmann::json ToJson(const JudgeReport& r) {
  nlohmann::json j = r.details;
  if (r.kind) j["kind"] = *r.kind;
  j["train_pairs"] = r.train_pairs;
  j["threshold"] = r.threshold;
  if (r.threshold_calibration_pairs)
    j["threshold_calibration_pairs"] = *r.threshold_calibration_pairs;
  if (r.threshold_set_on) j["threshold_set_on"] = *r.threshold_set_on;
  if (r.final_train_loss) j["final_train_loss"] = *r.final_train_loss;
  if (r.heldout) j["heldout"] = ToJson(*r.heldout);
  if (r.heldout_seen_forms) j["heldout_seen_forms"] = ToJson(*r.heldout_seen_forms);
  return j;
}

JudgeScores JudgeMetrics(Judge& judge, const std::vector<JudgePair>& pairs) {
  std::vector<std::string> queries;
  std::unordered_map<std::string, int> qi;
  std::vector<int> rows, query_of;
  for (const auto& p : pairs) {
    auto [it, added] = qi.try_emplace(p.query, static_cast<int>(queries.size()));
    if (added) queries.push_back(p.query);
    rows.push_back(judge.SongRow(p.song));
    query_of.push_back(it->second);
  }
  const auto prob = judge.Probability(queries, rows, query_of);
  int64_t tp = 0, fp = 0, fn = 0, tn = 0;
  std::vector<std::pair<double, bool>> scored, hard;
  for (size_t k = 0; k < pairs.size(); ++k) {
    const bool yes = prob[k] >= judge.threshold();
    tp += yes && pairs[k].relevant, fp += yes && !pairs[k].relevant;
    fn += !yes && pairs[k].relevant, tn += !yes && !pairs[k].relevant;
    scored.push_back({prob[k], pairs[k].relevant});
    if (pairs[k].relevant || pairs[k].hard) hard.push_back({prob[k], pairs[k].relevant});
  }
  const double precision = tp + fp ? static_cast<double>(tp) / (tp + fp) : 0.0;
  const double recall = tp + fn ? static_cast<double>(tp) / (tp + fn) : 0.0;
  JudgeScores s;
  s.pairs = pairs.size();
  s.positives = tp + fn;
  s.accuracy =
      pairs.empty() ? 0.0 : static_cast<double>(tp + tn) / static_cast<double>(pairs.size());
  s.precision = precision;
  s.recall = recall;
  s.f1 = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0.0;
  s.auc = Auc(scored);
  s.auc_vs_hard_negatives = Auc(hard);
  return s;
}

namespace {

// The threshold maximising F1 on (up to kCalibrationPairs of) `pairs`.
double CalibrateThreshold(Judge& judge, const std::vector<JudgePair>& pairs) {
  std::vector<std::string> queries;
  std::vector<int> rows, query_of;
  std::vector<bool> relevant;
  std::unordered_map<std::string, int> index;
  for (size_t k = 0; k < std::min(kCalibrationPairs, pairs.size()); ++k) {
    auto [it, added] = index.try_emplace(pairs[k].query, static_cast<int>(queries.size()));
    if (added) queries.push_back(pairs[k].query);
    rows.push_back(judge.SongRow(pairs[k].song));
    query_of.push_back(it->second);
    relevant.push_back(pairs[k].relevant);
  }
  return BestF1Threshold(judge.Probability(queries, rows, query_of), relevant);
}

// Writes judge.json with `meta`, calibrates its threshold on training pairs when asked (rewriting
// it), calls `after_calibration` (which may rewrite the judge's other files; what it returns
// joins the report), evaluates the
// held-out pairs and writes the final judge.json; returns the report. Shared by every kind of
// judge.
// `calibration`: the pairs the threshold is set on (null: labels.calibration, or the training
// pairs when it is empty).
JudgeReport CalibrateAndEvaluate(const std::string& out_dir, nlohmann::json meta,
                                 JudgeReport report, const JudgeLabels& labels, bool calibrate,
                                 const std::function<nlohmann::json()>& after_calibration = {},
                                 const std::vector<JudgePair>* calibration = nullptr) {
  WriteFileAtomic(out_dir + "/judge.json", meta.dump(2) + "\n");
  auto judge = Judge::Load(out_dir);
  if (calibrate) {
    const std::vector<JudgePair>& pairs = calibration                   ? *calibration
                                          : !labels.calibration.empty() ? labels.calibration
                                                                        : labels.train;
    meta["threshold"] = CalibrateThreshold(*judge, pairs);
    report.threshold_calibration_pairs = std::min(kCalibrationPairs, pairs.size());
    report.threshold_set_on = calibration ? "a fifth of the training requests (cross-fitted)"
                              : !labels.calibration.empty() ? "rl requests' logged likes"
                                                            : "training pairs";
    WriteFileAtomic(out_dir + "/judge.json", meta.dump(2) + "\n");
  }
  if (after_calibration) report.details.update(after_calibration());
  if (calibrate || after_calibration) judge = Judge::Load(out_dir);
  report.threshold = judge->threshold();
  if (!labels.heldout.empty()) report.heldout = JudgeMetrics(*judge, labels.heldout);
  if (!labels.heldout_seen.empty())
    report.heldout_seen_forms = JudgeMetrics(*judge, labels.heldout_seen);
  meta["report"] = ToJson(report);
  WriteFileAtomic(out_dir + "/judge.json", meta.dump(2) + "\n");
  return report;
}

}  // namespace

namespace {

// PlayedExample::offset of every play: the ranking model's logit of P(like or finish) for the
// request's listener, in the request's state, with the history before it. Plays of requests
// without a listener keep 0.
void RankerOffsets(Store& store, const Catalog& catalog, const std::string& ranker_dir,
                   std::vector<PlayedExample>& played) {
  Ranker ranker = Ranker::Load(ranker_dir);
  std::unordered_map<std::string, std::vector<size_t>> of_query;
  for (size_t i = 0; i < played.size(); ++i) of_query[played[i].query_id].push_back(i);
  std::vector<EvalRequest> requests;
  store.ForEachQuery([&](const Query& q) {
    if (!q.user.empty() && of_query.count(q.id))
      requests.push_back({q.user, q.ts, q.state, q.text, q.id});
  });
  const auto contexts =
      RequestContexts(store, catalog, requests, static_cast<int>(ranker.config().history));
  for (size_t k = 0; k < requests.size(); ++k) {
    const auto& plays = of_query.at(requests[k].query_id);
    std::vector<int> rows;
    for (size_t i : plays) rows.push_back(ranker.SongRow(played[i].song));
    const auto pred =
        ranker.Predict(MakeRankerContext(requests[k].user, contexts[k], catalog), rows);
    for (size_t j = 0; j < plays.size(); ++j) {
      const double p = std::clamp(static_cast<double>(pred[j].p[0] + pred[j].p[1]), 1e-4, 1 - 1e-4);
      played[plays[j]].offset = std::log(p / (1 - p));
    }
  }
  spdlog::info("judge: the ranking model's view of {} plays of {} requests", played.size(),
               requests.size());
}

// The "prf" judge's song space: a dense retriever trained on the training queries' relevant
// songs and `o.extra_pairs`, less the requests in `calibration` (the threshold is set on them:
// empty for the final one), its unit vector of each song of `catalog`, saved to out_dir. Returns
// its report.
nlohmann::json BuildSongSpace(const std::vector<std::pair<std::string, std::string>>& summaries,
                              const JudgeLabels& labels,
                              const std::unordered_set<std::string>& calibration,
                              const Catalog& catalog,
                              const std::unordered_map<std::string, std::vector<std::string>>& tags,
                              const GenerativeJudgeOptions& o, const std::string& out_dir) {
  std::vector<DensePair> pairs;
  for (const auto& [query, songs] : labels.train_queries)
    if (!calibration.count(query))
      for (const auto& s : songs) pairs.push_back({query, s});
  const size_t from_queries = pairs.size();
  for (const auto& p : o.extra_pairs)
    if (!calibration.count(p.query)) pairs.push_back(p);
  spdlog::info("judge song space: {} pairs from training queries, {} more; {} requests left out",
               from_queries, pairs.size() - from_queries, calibration.size());
  const auto dense = DenseIndex::TrainShared(summaries, pairs, o.dense);
  std::unordered_map<std::string, size_t> row;
  for (size_t i = 0; i < dense->ids().size(); ++i) row.emplace(dense->ids()[i], i);
  const auto n = static_cast<int64_t>(catalog.items.size());
  torch::Tensor vectors = torch::zeros({n, dense->dim()}, torch::kFloat32);
  int64_t missing = 0;
  for (int64_t i = 0; i < n; ++i) {
    auto it = row.find(catalog.items[static_cast<size_t>(i)].id);
    if (it == row.end()) {
      ++missing;
      continue;
    }
    const std::vector<float> v = dense->DocVector(it->second);
    std::copy(v.begin(), v.end(), vectors[i].data_ptr<float>());
  }
  // The query tower beside the song vectors (JudgeSongSpace::query_weight reads requests with it).
  const DenseQueryEncoder& enc = dense->query_encoder();
  const torch::Tensor words =
      torch::from_blob(const_cast<float*>(enc.words().data()),
                       {static_cast<int64_t>(enc.vocabulary().size()), enc.dim()}, torch::kFloat32)
          .clone();
  // The mean request vector (JudgeSongSpace::center_weight), each training request's vector made
  // as the judge makes one, its labelled relevant songs in place of the model's best (the requests
  // in `calibration` left out, as from the song space).
  torch::Tensor mean = torch::zeros({dense->dim()}, torch::kFloat32);
  {
    std::unordered_map<std::string, int64_t> catalog_row;
    for (int64_t i = 0; i < n; ++i)
      catalog_row.emplace(catalog.items[static_cast<size_t>(i)].id, i);
    int64_t requests = 0;
    const size_t dim = static_cast<size_t>(dense->dim());
    for (const auto& [query, songs] : labels.train_queries) {
      if (calibration.count(query)) continue;  // as for the song space: the threshold's requests
      std::vector<float> v(dim, 0.0f);
      for (const auto& s : songs)
        if (auto it = catalog_row.find(s); it != catalog_row.end()) {
          const float* song = vectors[it->second].data_ptr<float>();
          for (size_t d = 0; d < dim; ++d) v[d] += song[d];
        }
      if (std::all_of(v.begin(), v.end(), [](float x) { return x == 0.0f; })) continue;
      ReadRequest(v, query, enc, o.query_weight);
      mean += torch::from_blob(v.data(), {dense->dim()}, torch::kFloat32), ++requests;
    }
    if (requests > 0) mean /= static_cast<double>(requests);
  }
  SaveSafetensors(out_dir + "/" + kJudgeSongSpaceFile,
                  {{"vectors", vectors}, {"words", words}, {"request_mean", mean}});
  WriteFileAtomic(out_dir + "/" + kJudgeVocabularyFile,
                  nlohmann::json(enc.vocabulary()).dump() + "\n");
  nlohmann::json r = dense->report();
  // Seconds are logged, not reported: judge.json is the same for the same data and seed.
  spdlog::info("judge song space: trained in {:.1f} s", r.value("seconds", 0.0));
  r.erase("seconds");
  r["pairs_from_queries"] = from_queries;
  r["pairs_more"] = pairs.size() - from_queries;
  r["requests_left_out"] = calibration.size();
  r["catalog_songs_without_vector"] = missing;
  if (o.played_weight > 0) {
    // The played-contrast term, on the same requests as the song space.
    std::vector<PlayedExample> played;
    for (const auto& e : labels.played)
      if (!calibration.count(e.query)) played.push_back(e);
    const PlayedTerms terms = PlayedTerms::Fit(played, tags, o.played);
    if (terms.empty())
      spdlog::warn(
          "judge: no played-contrast term (no cross of request word and song tag met in {} "
          "training requests' search logs, extra.played, weighs {} or more): the judge goes "
          "without it",
          o.played.min_requests, o.played.min_weight);
    WriteFileAtomic(out_dir + "/" + kJudgePlayedFile, terms.ToJson().dump() + "\n");
    r["played_terms"] = terms.report();
  }
  return r;
}

}  // namespace

JudgeReport BuildGenerativeJudge(Store& store, const world::Oracle* oracle,
                                 const std::string& sft_dir, const JudgeLabelOptions& label_options,
                                 const std::string& out_dir, const GenerativeJudgeOptions& o) {
  const bool prf = o.feedback_songs > 0;
  JudgeLabelOptions lo = label_options;
  lo.played = prf && o.played_weight > 0;
  JudgeLabels labels = MakeJudgeLabels(store, oracle, lo);
  const char* kind = prf ? "prf" : "pmi";
  const std::string lm = out_dir + "/lm/final";
  fs::remove_all(out_dir);
  MakeDirs(lm);
  for (const auto& e : fs::directory_iterator(sft_dir))
    if (e.is_regular_file()) fs::copy_file(e.path(), lm + "/" + e.path().filename().string());
  // The prior: the checkpoint's mean first-song log-probabilities over training requests.
  std::vector<float> prior;
  size_t prior_prompts = 0;
  nlohmann::json space;
  Catalog catalog;
  std::vector<std::pair<std::string, std::string>> summaries;  // prf: every song's summary
  std::unordered_set<std::string> calibration;  // prf: requests the threshold is set on
  std::vector<JudgePair> calibration_pairs;
  std::unordered_map<std::string, std::vector<std::string>> tags;  // prf: song tags, by id
  {
    Checkpoint ck = LoadCheckpoint(lm);
    auto first = FirstItemScores::For(*ck.codec);
    if (!first)
      throw Error("the generative judge needs a one-token item codec (atomic)", sft_dir,
                  "use --kind yesno");
    std::vector<std::vector<int>> prompts;
    std::unordered_set<std::string> seen;
    for (const auto& p : labels.train)
      if (static_cast<int>(prompts.size()) < o.prior_requests && seen.insert(p.query).second)
        prompts.push_back(Judge::PmiPrompt(ck, p.query));
    Engine engine(ck.model, *ck.tok, ck.grammar.get(), EngineOptions{});
    prior = first->MeanFirstLogProbs(engine, prompts);
    prior_prompts = prompts.size();
    if (prior.empty())
      throw Error("the model named no song for any training request", sft_dir,
                  "check the checkpoint");
    if (prf) summaries = SongSummaries(store);  // read once: both song spaces embed them
    if (prf && o.played_weight > 0) {
      store.ForEachSong([&](const Song& s) { tags.emplace(s.id, SongTags(s)); });
      if (!o.ranker.empty()) RankerOffsets(store, ck.catalog, o.ranker, labels.played);
    }
    if (prf && !labels.calibration.empty()) {
      // The threshold is set on rl requests, which the song space never trains on.
      space["final"] = BuildSongSpace(summaries, labels, {}, ck.catalog, tags, o, out_dir);
    } else if (prf) {
      // No rl requests with labels. Cross-fitting: the threshold is set on the pairs of a fifth of
      // the training requests, scored by a song space that never saw them (their scores are those
      // of unseen requests, as held-out ones will be); the final song space then trains on every
      // training request.
      std::unordered_set<std::string> requests;
      for (const auto& p : labels.train) requests.insert(p.query);
      const size_t held = std::max<size_t>(1, requests.size() / 5);
      for (const auto& p : labels.train)
        if (calibration_pairs.size() < kCalibrationPairs &&
            (calibration.count(p.query) || calibration.size() < held)) {
          calibration.insert(p.query);
          calibration_pairs.push_back(p);
        }
      space["for_threshold"] =
          BuildSongSpace(summaries, labels, calibration, ck.catalog, tags, o, out_dir);
      catalog = ck.catalog;
    }
  }
  WriteFileAtomic(out_dir + "/judge_prior.json", nlohmann::json(prior).dump() + "\n");
  JudgeReport report;
  report.kind = kind;
  report.train_pairs = labels.train.size();
  report.details = {{"checkpoint", sft_dir},
                    {"prior_requests", prior_prompts},  // distinct training requests averaged
                    {"heldout_pairs", labels.heldout.size()},
                    {"dropped_training_queries", labels.dropped_queries},
                    {"labels", LabelSource(oracle)}};
  // judge.json's first form, before calibration, holds the report as it stands (threshold 0).
  nlohmann::json meta = {{"format", "muchator-judge-1"},
                         {"kind", kind},
                         {"threshold", 0.5},
                         {"report", ToJson(report)}};
  if (!prf) return CalibrateAndEvaluate(out_dir, meta, report, labels, /*calibrate=*/true);
  meta["feedback_songs"] = o.feedback_songs;
  meta["pmi_weight"] = o.pmi_weight;
  meta["query_weight"] = o.query_weight;
  meta["center_weight"] = o.center_weight;
  meta["played_weight"] = o.played_weight;
  if (calibration.empty()) {
    report.details["song_space"] = space;
    return CalibrateAndEvaluate(out_dir, meta, report, labels, /*calibrate=*/true);
  }
  return CalibrateAndEvaluate(
      out_dir, meta, report, labels, /*calibrate=*/true,
      [&] {
        space["final"] = BuildSongSpace(summaries, labels, {}, catalog, tags, o, out_dir);
        return nlohmann::json{{"song_space", space}};
      },
      &calibration_pairs);
}

JudgeReport TrainJudge(Store& store, const world::Oracle* oracle, const JudgeTrainOptions& o,
                       const std::string& out_dir) {
  MakeDirs(out_dir);
  const JudgeLabels labels = MakeJudgeLabels(store, oracle, o.labels);
  spdlog::info(
      "judge labels: {} train pairs, {} held-out pairs ({} training queries dropped for test "
      "forms)",
      labels.train.size(), labels.heldout.size(), labels.dropped_queries);
  // The model and its tokenizer.
  torch::manual_seed(o.train.seed);
  Qwen3ForCausalLM model{nullptr};
  std::string tokenizer_json;
  if (!o.init.empty()) {
    model = LoadModel(o.init);
    tokenizer_json = o.init + "/tokenizer.json";
    if (o.layers > 0 && o.layers < model->config().num_hidden_layers) {
      ModelConfig c = model->config();
      c.num_hidden_layers = o.layers;
      Qwen3ForCausalLM shallow(c);
      auto from = model->named_parameters();
      torch::NoGradGuard g;
      for (auto& p : shallow->named_parameters())
        p.value().copy_(from[p.key()]);  // same names, first layers
      spdlog::info("judge: the first {} of {} layers of {}", o.layers,
                   model->config().num_hidden_layers, o.init);
      model = shallow;
    }
  } else {
    if (o.tokenizer.empty())
      throw Error("a fresh judge needs a tokenizer", "--tokenizer",
                  "give --init CHECKPOINT or --tokenizer tokenizer.json");
    tokenizer_json = o.tokenizer;
  }
  if (!fs::exists(tokenizer_json))
    throw Error("tokenizer not found", tokenizer_json, "give --tokenizer PATH");
  auto tok = Tokenizer::LoadHf(tokenizer_json);
  if (!model) {
    ModelConfig c = ModelConfig::Named(o.model_size);
    c.vocab_size = tok->vocab_size();
    model = Qwen3ForCausalLM(c);
  } else if (model->config().vocab_size < tok->vocab_size()) {
    model->ResizeVocab(tok->vocab_size());
  }
  // The training corpus: one document per pair, loss on the answer token only.
  const auto summaries = SongSummaries(store);
  std::unordered_map<std::string, size_t> summary_row;
  for (size_t i = 0; i < summaries.size(); ++i) summary_row[summaries[i].first] = i;
  const std::string corpus = out_dir + "/corpus";
  // Data-parallel (o.train.group): rank 0 writes the corpus while the others wait, every rank
  // trains its rows, rank 0 alone calibrates, evaluates and writes the judge.
  dist::Group* group = o.train.group.get();
  const bool root = !group || group->root();
  if (root) {
    MakeDirs(corpus);
    fs::copy_file(tokenizer_json, corpus + "/tokenizer.json", fs::copy_options::overwrite_existing);
    ShardWriter w(corpus, "judge");
    const int yes = Judge::YesToken(*tok), no = Judge::NoToken(*tok);
    for (const auto& p : labels.train) {
      const JudgeTokens t = Judge::Render(*tok, p.query, summaries[summary_row.at(p.song)].second);
      TokenSeq doc;
      doc.Ids(t.prefix);
      doc.Ids(t.suffix);
      doc.Id(p.relevant ? yes : no, /*loss=*/true);
      doc.Id(tok->TokenId(tok::kImEnd));
      w.Add(doc);
    }
    w.Finish();
  }
  if (group) group->Barrier();
  const StageResult r = TrainStage(model, corpus, {"judge"}, {"judge"}, out_dir, "lm", o.train,
                                   /*resume=*/false, tokenizer_json);
  if (!root) return {};
  {
    std::string rows;
    for (const auto& [id, text] : summaries)
      rows += nlohmann::json({{"id", id}, {"summary", text}}).dump() + "\n";
    WriteFileAtomic(out_dir + "/judge_songs.jsonl", rows);
  }
  JudgeReport report;
  report.train_pairs = labels.train.size();
  report.final_train_loss = r.final_loss;
  report.details = {
      {"train_positives", std::count_if(labels.train.begin(), labels.train.end(),
                                        [](const JudgePair& p) { return p.relevant; })},
      {"heldout_pairs", labels.heldout.size()},
      {"dropped_training_queries", labels.dropped_queries},
      {"labels", LabelSource(oracle)}};
  const nlohmann::json meta = {{"format", "muchator-judge-1"},
                               {"threshold", o.threshold > 0 ? o.threshold : 0.5},
                               {"report", ToJson(report)}};
  return CalibrateAndEvaluate(out_dir, meta, report, labels, /*calibrate=*/o.threshold <= 0);
}

}  // namespace muchator
