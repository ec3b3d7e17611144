#include "reward/judge.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>

#include "core/error.h"
#include "core/file.h"
#include "data/store.h"
#include "infer/rerank.h"
#include "model/safetensors.h"
#include "text/chat.h"
#include "text/special_tokens.h"

namespace muchator {

namespace {
constexpr size_t kMaxQueryTokens = 96;  // longer queries are cut (a request is a sentence or two)
constexpr size_t kMaxSummaryTokens =
    96;  // longer summaries are cut (the judge pays per summary token)
constexpr int kMaxLen = 256;
}  // namespace

std::string SongSummary(const Song& s, const std::string& artist_name,
                        const std::vector<std::string>& playlists,
                        const std::vector<std::string>& comments) {
  std::string t = s.title;
  if (!artist_name.empty()) t += " by " + artist_name;
  t += ".";
  auto list = [](const std::vector<std::string>& v) {
    std::string o;
    for (const auto& x : v) o += (o.empty() ? "" : ", ") + x;
    return o;
  };
  if (!s.genres.empty()) t += " genres: " + list(s.genres) + ".";
  if (!s.tags.empty()) t += " tags: " + list(s.tags) + ".";
  if (!s.language.empty()) t += " language: " + s.language + ".";
  if (s.year > 0) t += " " + std::to_string(s.year / 10 * 10) + "s.";
  if (!playlists.empty()) {
    t += " playlists:";
    for (size_t i = 0; i < playlists.size(); ++i) t += (i ? "; " : " ") + playlists[i];
    t += ".";
  }
  if (!comments.empty()) {
    t += " listeners:";
    for (size_t i = 0; i < comments.size(); ++i) t += (i ? " | " : " ") + comments[i];
  }
  return t;
}

std::vector<std::pair<std::string, std::string>> SongSummaries(Store& store) {
  std::unordered_map<std::string, std::string> artist_names;
  store.ForEachArtist([&](const Artist& a) { artist_names[a.id] = a.name; });
  std::unordered_map<std::string, std::vector<std::string>> playlists, comments;
  store.ForEachPlaylist([&](const Playlist& p) {
    for (const auto& id : p.songs) {
      auto& v = playlists[id];
      if (v.size() < kSummaryPlaylists && std::find(v.begin(), v.end(), p.title) == v.end())
        v.push_back(p.title);
    }
  });
  store.ForEachComment([&](const Comment& c) {
    auto& v = comments[c.song];
    if (c.kind == "user" && v.size() < kSummaryComments) v.push_back(c.text);
  });
  std::vector<std::pair<std::string, std::string>> out;
  store.ForEachSong([&](const Song& s) {
    std::string artist;
    if (!s.artists.empty()) {
      auto it = artist_names.find(s.artists[0]);
      if (it != artist_names.end()) artist = it->second;
    }
    out.push_back({s.id, SongSummary(s, artist, playlists[s.id], comments[s.id])});
  });
  return out;
}

JudgeTokens Judge::Render(const Tokenizer& tok, const std::string& query,
                          const std::string& summary) {
  JudgeTokens t;
  t.prefix = {tok.TokenId(tok::kImStart)};
  auto add = [&](std::vector<int>& v, const std::vector<int>& ids, size_t cap) {
    v.insert(v.end(), ids.begin(), ids.begin() + static_cast<long>(std::min(cap, ids.size())));
  };
  add(t.prefix, tok.Encode("user\n"), 8);
  t.prefix.push_back(tok.TokenId(tok::kQuery));
  add(t.prefix, tok.Encode(query), kMaxQueryTokens);
  add(t.prefix, tok.Encode("\n"), 2);
  add(t.suffix, tok.Encode("song: "), 8);
  add(t.suffix, tok.Encode(summary), kMaxSummaryTokens);
  add(t.suffix, tok.Encode("\nrelevant?"), 8);
  t.suffix.push_back(tok.TokenId(tok::kImEnd));
  add(t.suffix, tok.Encode("\n"), 2);
  t.suffix.push_back(tok.TokenId(tok::kImStart));
  add(t.suffix, tok.Encode("assistant\n"), 8);
  return t;
}

int Judge::YesToken(const Tokenizer& tok) { return tok.Encode("yes").at(0); }
int Judge::NoToken(const Tokenizer& tok) { return tok.Encode("no").at(0); }

Judge::Judge(Qwen3ForCausalLM model, std::unique_ptr<Tokenizer> tok,
             std::vector<std::pair<std::string, std::string>> summaries, double threshold,
             int max_batch)
    : tok_(std::move(tok)), summaries_(std::move(summaries)), threshold_(threshold) {
  if (tok_->TokenId(tok::kImStart) < 0 || tok_->TokenId(tok::kQuery) < 0 ||
      tok_->TokenId(tok::kImEnd) < 0)
    throw Error("the judge's tokenizer lacks the chat special tokens", "",
                "use the pipeline's tokenizer.json");
  yes_ = YesToken(*tok_);
  no_ = NoToken(*tok_);
  if (yes_ == no_) throw Error("the tokenizer encodes 'yes' and 'no' with the same first token");
  for (size_t i = 0; i < summaries_.size(); ++i) rows_[summaries_[i].first] = static_cast<int>(i);
  suffix_cache_.resize(summaries_.size());
  EngineOptions eo;
  eo.max_batch = max_batch;
  eo.max_len = std::min<int>(kMaxLen, static_cast<int>(model->config().max_position_embeddings));
  engine_ = std::make_unique<Engine>(model, *tok_, nullptr, eo);
}

struct Judge::Pmi {
  Checkpoint ck;
  std::vector<float> prior;
  FirstItemScores first;
  JudgeSongSpace space;
};

Judge::Judge(Checkpoint ck, std::vector<float> prior, double threshold, JudgeSongSpace space,
             int max_batch)
    : threshold_(threshold) {
  if (!ck.codec || !ck.grammar)
    throw Error("the generative judge needs a checkpoint with its codec.json");
  auto first = FirstItemScores::For(*ck.codec);
  if (!first)
    throw Error("the generative judge needs a one-token item codec (atomic)", "",
                "use --judge-kind yesno with this codec");
  if (prior.size() != ck.catalog.items.size())
    throw Error("the judge's prior has " + std::to_string(prior.size()) + " songs, its catalog " +
                    std::to_string(ck.catalog.items.size()),
                "", "rebuild the judge");
  if (space.dim > 0 &&
      (space.vectors.size() != prior.size() * static_cast<size_t>(space.dim) ||
       space.feedback_songs < 1 || space.pmi_weight < 0 || space.query_weight < 0 ||
       (space.query_weight > 0 && space.query_encoder.dim() != space.dim) ||
       space.center_weight < 0 || space.played_weight < 0 ||
       (space.center_weight > 0 && space.request_mean.size() != static_cast<size_t>(space.dim))))
    throw Error("the judge's song space does not fit its catalog of " +
                    std::to_string(prior.size()) + " songs",
                "", "rebuild the judge");
  for (size_t i = 0; i < ck.catalog.items.size(); ++i)
    rows_[ck.catalog.items[i].id] = static_cast<int>(i);
  EngineOptions eo;
  eo.max_batch = max_batch;
  engine_ = std::make_unique<Engine>(ck.model, *ck.tok, ck.grammar.get(), eo);
  pmi_ = std::make_unique<Pmi>(Pmi{std::move(ck), std::move(prior), *first, std::move(space)});
}

Judge::~Judge() = default;

int Judge::SongRow(const std::string& id) const {
  auto it = rows_.find(id);
  return it == rows_.end() ? -1 : it->second;
}

const Tokenizer& Judge::tokenizer() const { return pmi_ ? *pmi_->ck.tok : *tok_; }

std::vector<int> Judge::PmiPrompt(const Checkpoint& ck, const std::string& query) {
  return RenderPrompt(*ck.tok, *ck.codec, UserContext{}, query, /*max_history=*/0).ids;
}

const std::vector<int>& Judge::Suffix(int row) {
  auto& s = suffix_cache_[static_cast<size_t>(row)];
  if (s.empty()) s = Render(*tok_, "", summaries_[static_cast<size_t>(row)].second).suffix;
  return s;
}

std::vector<float> Judge::Probability(std::span<const std::string> queries,
                                      std::span<const int> rows, std::span<const int> query_of) {
  if (rows.size() != query_of.size())
    throw Error("Judge::Probability: rows and query_of differ in length");
  std::vector<float> out(rows.size(), 0.0f);
  for (int q : query_of)
    if (q < 0 || static_cast<size_t>(q) >= queries.size())
      throw Error("Judge::Probability: query index out of range");
  if (pmi_) {
    // One one-song answer per request that has a known song to judge; its first-song scores.
    const size_t n = pmi_->prior.size();
    std::vector<char> needed(queries.size(), 0);
    for (size_t k = 0; k < rows.size(); ++k)
      if (rows[k] >= 0 && static_cast<size_t>(rows[k]) < n)
        needed[static_cast<size_t>(query_of[k])] = 1;
    std::vector<std::vector<float>> scores(queries.size());
    std::vector<GenerationRequest> reqs;
    for (size_t q = 0; q < queries.size(); ++q) {
      if (!needed[q]) continue;
      GenerationRequest r;
      r.prompt = PmiPrompt(pmi_->ck, queries[q]);
      r.sampling.temperature = 0;
      r.sampling.max_new_tokens = 4096;  // the grammar ends the answer after its one song
      ConstraintOptions c;
      c.num_items = 1;
      r.constraint = c;
      r.logits_hook = pmi_->first.Hook(&scores[q]);
      reqs.push_back(std::move(r));
    }
    engine_->Generate(std::move(reqs));
    // Per request: every song's PMI, sorted, so a song's share of the catalog below it is one
    // binary search. (The log-softmax normaliser is the same for every song of a request: it
    // cancels in the ranking and is left out.)
    std::vector<std::vector<float>> sorted(queries.size());
    for (size_t q = 0; q < queries.size(); ++q) {
      if (scores[q].size() != n) continue;  // no song was reached
      for (size_t i = 0; i < n; ++i) scores[q][i] -= pmi_->prior[i];
      sorted[q] = scores[q];
      std::sort(sorted[q].begin(), sorted[q].end());
    }
    const std::vector<std::vector<float>> feedback = RequestVectors(queries, scores);
    const JudgeSongSpace& space = pmi_->space;
    const bool played = space.dim > 0 && space.played_weight > 0 && !space.played.empty();
    // Each request's tag weights for the played-contrast term. (The term is not centred on its
    // mean over the catalog: with a sparse term, centring lifts every song a request's
    // exclusion does not touch, irrelevant ones too; measured: held-out accuracy 0.852 against
    // 0.866 uncentred, seed 2.)
    std::vector<PlayedTerms::TagWeights> tag_weights(played ? queries.size() : 0);
    for (size_t q = 0; q < tag_weights.size(); ++q)
      if (needed[q]) tag_weights[q] = space.played.WeighTags(DenseFeatures(queries[q]));
    for (size_t k = 0; k < rows.size(); ++k) {
      const auto& s = scores[static_cast<size_t>(query_of[k])];
      if (rows[k] < 0 || static_cast<size_t>(rows[k]) >= n || s.size() != n) continue;
      const auto& sv = sorted[static_cast<size_t>(query_of[k])];
      const float v = s[static_cast<size_t>(rows[k])];
      out[k] = static_cast<float>(std::lower_bound(sv.begin(), sv.end(), v) - sv.begin()) /
               static_cast<float>(n);
      if (space.dim > 0) {
        const float* song = &space.vectors[static_cast<size_t>(rows[k]) * space.dim];
        const auto& request = feedback[static_cast<size_t>(query_of[k])];
        const float cos = std::inner_product(request.begin(), request.end(), song, 0.0f);
        out[k] = static_cast<float>(((cos + 1) / 2 + space.pmi_weight * out[k]) /
                                    (1 + space.pmi_weight));
      }
      if (played) {
        const double p = std::clamp(static_cast<double>(out[k]), 1e-6, 1 - 1e-6);
        const double term =
            space.played.Score(tag_weights[static_cast<size_t>(query_of[k])],
                               pmi_->ck.catalog.items[static_cast<size_t>(rows[k])].id);
        out[k] = static_cast<float>(
            1 / (1 + std::exp(-(std::log(p / (1 - p)) + space.played_weight * term))));
      }
    }
    return out;
  }
  std::vector<std::vector<int>> prefixes(queries.size());
  for (size_t q = 0; q < queries.size(); ++q) prefixes[q] = Render(*tok_, queries[q], "").prefix;
  // Pairs grouped by query, so that each query's prefix is pre-filled once and reused.
  std::vector<size_t> order;
  for (size_t k = 0; k < rows.size(); ++k)
    if (rows[k] >= 0 && static_cast<size_t>(rows[k]) < summaries_.size()) order.push_back(k);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return query_of[a] < query_of[b]; });
  std::vector<GenerationRequest> reqs;
  reqs.reserve(order.size());
  for (size_t k : order) {
    const auto& prefix = prefixes[static_cast<size_t>(query_of[k])];
    GenerationRequest r;
    r.prompt = prefix;
    const auto& suffix = Suffix(rows[k]);
    r.prompt.insert(r.prompt.end(), suffix.begin(), suffix.end());
    r.cache_prefix = static_cast<int>(prefix.size());
    r.sampling.temperature = 0;
    r.sampling.max_new_tokens = 1;
    float* slot = &out[k];
    const int yes = yes_, no = no_;
    r.logits_hook = [slot, yes, no](std::span<float> logits, std::span<const int>) {
      const float y = logits[static_cast<size_t>(yes)], n = logits[static_cast<size_t>(no)];
      *slot = 1.0f / (1.0f + std::exp(n - y));  // softmax over {yes, no}
    };
    reqs.push_back(std::move(r));
  }
  engine_->Generate(std::move(reqs));
  return out;
}

namespace {
void Normalise(std::vector<float>& v) {
  const float norm = std::sqrt(std::inner_product(v.begin(), v.end(), v.begin(), 0.0f));
  if (norm > 0)
    for (float& x : v) x /= norm;
}
}  // namespace

void ReadRequest(std::vector<float>& v, const std::string& query, const DenseQueryEncoder& tower,
                 double query_weight) {
  Normalise(v);
  std::vector<float> words;
  if (query_weight > 0 && tower.Encode(query, words)) {
    for (size_t d = 0; d < v.size() && d < words.size(); ++d)
      v[d] += static_cast<float>(query_weight) * words[d];
    Normalise(v);
  }
}

std::vector<std::vector<float>> Judge::RequestVectors(
    std::span<const std::string> queries, const std::vector<std::vector<float>>& pmi) const {
  const JudgeSongSpace& space = pmi_->space;
  std::vector<std::vector<float>> out(pmi.size());
  if (space.dim <= 0) return out;
  const size_t n = pmi_->prior.size(), dim = static_cast<size_t>(space.dim);
  for (size_t q = 0; q < pmi.size(); ++q) {
    if (pmi[q].size() != n) continue;
    const size_t k = std::min(n, static_cast<size_t>(space.feedback_songs));
    std::vector<int> best(n);
    std::iota(best.begin(), best.end(), 0);
    std::partial_sort(best.begin(), best.begin() + static_cast<long>(k), best.end(),
                      [&](int a, int b) {
                        return pmi[q][static_cast<size_t>(a)] > pmi[q][static_cast<size_t>(b)];
                      });
    auto& v = out[q];
    v.assign(dim, 0.0f);
    for (size_t j = 0; j < k; ++j) {
      const float* song = &space.vectors[static_cast<size_t>(best[j]) * dim];
      for (size_t d = 0; d < dim; ++d) v[d] += song[d];
    }
    ReadRequest(v, queries[q], space.query_encoder, space.query_weight);
    if (space.center_weight > 0) {
      for (size_t d = 0; d < dim; ++d)
        v[d] -= static_cast<float>(space.center_weight) * space.request_mean[d];
      Normalise(v);
    }
  }
  return out;
}

std::unique_ptr<Judge> Judge::Load(const std::string& dir) {
  const std::string meta = dir + "/judge.json", songs = dir + "/judge_songs.jsonl",
                    lm = dir + "/lm/final";
  if (std::filesystem::exists(meta)) {
    nlohmann::json m;
    try {
      m = nlohmann::json::parse(ReadFile(meta));
    } catch (const std::exception& e) {
      throw Error(std::string("unreadable judge metadata: ") + e.what(), meta, "rebuild the judge");
    }
    const std::string kind = m.value("kind", "yesno");
    if (kind == "pmi" || kind == "prf") {
      const std::string prior_path = dir + "/judge_prior.json",
                        space_path = dir + "/" + kJudgeSongSpaceFile;
      std::vector<std::string> needed = {prior_path, lm + "/model.safetensors", lm + "/codec.json"};
      if (kind == "prf") needed.push_back(space_path);
      for (const auto& p : needed)
        if (!std::filesystem::exists(p))
          throw Error(
              "not a generative judge directory: " + p + " is missing", dir,
              "build one with `muchator train-judge --kind " + kind + " --init SFT_CHECKPOINT`");
      std::vector<float> prior;
      try {
        prior = nlohmann::json::parse(ReadFile(prior_path)).get<std::vector<float>>();
        JudgeSongSpace space;
        if (kind == "prf") {
          const auto tensors = LoadSafetensors(space_path);
          auto it = tensors.find("vectors");
          if (it == tensors.end() || it->second.dim() != 2 ||
              it->second.scalar_type() != torch::kFloat32)
            throw Error("no float32 matrix \"vectors\" in the song space", space_path,
                        "rebuild the judge");
          const torch::Tensor v = it->second.contiguous();
          space.dim = static_cast<int>(v.size(1));
          space.vectors.assign(v.data_ptr<float>(), v.data_ptr<float>() + v.numel());
          space.feedback_songs = m.at("feedback_songs").get<int>();
          space.pmi_weight = m.at("pmi_weight").get<double>();
          space.query_weight = m.value("query_weight", 0.0);  // judges before 2026-12-06: none
          space.center_weight = m.value("center_weight", 0.0);
          if (space.center_weight > 0) {
            auto c = tensors.find("request_mean");
            if (c == tensors.end() || c->second.numel() != space.dim ||
                c->second.scalar_type() != torch::kFloat32)
              throw Error(
                  "the judge has a centre weight but no float32 \"request_mean\" of the "
                  "song space's width in " +
                      space_path,
                  dir, "rebuild the judge");
            const torch::Tensor ct = c->second.contiguous();
            space.request_mean.assign(ct.data_ptr<float>(), ct.data_ptr<float>() + ct.numel());
          }
          space.played_weight = m.value("played_weight", 0.0);  // judges before 2026-12-06
          if (space.played_weight > 0) {
            const std::string played_path = dir + "/" + kJudgePlayedFile;
            if (!std::filesystem::exists(played_path))
              throw Error("the judge has a played weight but no " + std::string(kJudgePlayedFile),
                          dir, "rebuild the judge");
            space.played =
                PlayedTerms::FromJson(nlohmann::json::parse(ReadFile(played_path)), played_path);
          }
          if (space.query_weight > 0) {
            const std::string vocab_path = dir + "/" + kJudgeVocabularyFile;
            auto w = tensors.find("words");
            if (w == tensors.end() || w->second.dim() != 2 || w->second.size(1) != space.dim ||
                w->second.scalar_type() != torch::kFloat32 || !std::filesystem::exists(vocab_path))
              throw Error(
                  "the judge has a query weight but no query tower (a float32 matrix "
                  "\"words\" of the song space's width and " +
                      std::string(kJudgeVocabularyFile) + ")",
                  dir, "rebuild the judge");
            const torch::Tensor wt = w->second.contiguous();
            space.query_encoder = DenseQueryEncoder(
                nlohmann::json::parse(ReadFile(vocab_path)).get<std::vector<std::string>>(),
                std::vector<float>(wt.data_ptr<float>(), wt.data_ptr<float>() + wt.numel()),
                space.dim);
          }
        }
        return std::make_unique<Judge>(LoadCheckpoint(lm), std::move(prior),
                                       m.at("threshold").get<double>(), std::move(space));
      } catch (const nlohmann::json::exception& e) {
        throw Error(std::string("unreadable judge file: ") + e.what(), dir, "rebuild the judge");
      }
    }
  }
  for (const auto& p : {meta, songs, lm + "/model.safetensors", lm + "/tokenizer.json"})
    if (!std::filesystem::exists(p))
      throw Error("not a relevance judge directory: " + p + " is missing", dir,
                  "train one with `muchator train-judge --store DB --out DIR`");
  double threshold = 0.5;
  try {
    threshold = nlohmann::json::parse(ReadFile(meta)).at("threshold").get<double>();
  } catch (const std::exception& e) {
    throw Error(std::string("unreadable judge metadata: ") + e.what(), meta, "retrain the judge");
  }
  std::vector<std::pair<std::string, std::string>> summaries;
  LineReader reader(songs);
  std::string line;
  while (reader.Next(line)) {
    try {
      auto j = nlohmann::json::parse(line);
      summaries.push_back({j.at("id").get<std::string>(), j.at("summary").get<std::string>()});
    } catch (const std::exception& e) {
      throw Error(std::string("bad summary row: ") + e.what(),
                  songs + ":" + std::to_string(summaries.size() + 1), "retrain the judge");
    }
  }
  return std::make_unique<Judge>(LoadModel(lm), Tokenizer::LoadHf(lm + "/tokenizer.json"),
                                 std::move(summaries), threshold);
}

RelevanceFn MakeRelevanceFn(Judge& judge, const Catalog& catalog) {
  std::vector<int> rows(catalog.items.size());
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = judge.SongRow(catalog.items[i].id);
  return
      [&judge, rows = std::move(rows)](std::span<const std::string> queries,
                                       std::span<const int> items, std::span<const int> query_of) {
        std::vector<int> r(items.size(), -1);
        for (size_t k = 0; k < items.size(); ++k)
          if (items[k] >= 0 && static_cast<size_t>(items[k]) < rows.size())
            r[k] = rows[static_cast<size_t>(items[k])];
        return judge.Probability(queries, r, query_of);
      };
}

}  // namespace muchator
