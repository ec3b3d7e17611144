#include "reward/ranker.h"

#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "core/file.h"
#include "model/safetensors.h"

namespace muchator {

nlohmann::json RankerConfig::ToJson() const {
  return {{"dim", dim},     {"hidden", hidden},           {"history", history},
          {"match", match}, {"song_id_dim", song_id_dim}, {"value", value}};
}

RankerConfig RankerConfig::FromJson(const nlohmann::json& j) {
  RankerConfig c;
  c.dim = j.at("dim");
  c.hidden = j.at("hidden");
  c.history = j.at("history");
  c.match = j.value("match", int64_t{0});  // absent in models saved before the match features
  c.song_id_dim = j.value("song_id_dim", int64_t{0});  // likewise
  c.value = j.at("value").get<std::array<double, 4>>();
  return c;
}

namespace {

torch::nn::Embedding Emb(int64_t rows, int64_t dim) {
  auto e = torch::nn::Embedding(torch::nn::EmbeddingOptions(rows, dim).padding_idx(0));
  torch::NoGradGuard g;
  e->weight.normal_(0, 0.05);
  e->weight[0].zero_();
  return e;
}

// Mean of the embeddings of non-zero ids along the last axis: ids (..., K) -> (..., d).
torch::Tensor BagMean(torch::nn::Embedding& e, const torch::Tensor& ids) {
  const auto n = ids.ne(0).sum(-1, /*keepdim=*/true).clamp_min(1).to(torch::kFloat32);
  return e(ids).sum(-2) / n;
}

}  // namespace

RankerNetImpl::RankerNetImpl(const RankerConfig& c, const RankerVocab& v) : config(c) {
  const int64_t d = c.dim;
  song = register_module("song", Emb(v.songs.rows(), c.song_id_dim > 0 ? c.song_id_dim : d));
  if (c.song_id_dim > 0)
    song_id_proj = register_module(
        "song_id_proj", torch::nn::Linear(torch::nn::LinearOptions(c.song_id_dim, d).bias(false)));
  artist = register_module("artist", Emb(v.artists.rows(), d));
  genre = register_module("genre", Emb(v.genres.rows(), d));
  tag = register_module("tag", Emb(v.tags.rows(), d));
  language = register_module("language", Emb(v.languages.rows(), d));
  decade = register_module("decade", Emb(11, d));
  pop = register_module("pop", Emb(kPopBuckets + 1, d));
  user = register_module("user", Emb(v.users.rows(), d));
  profile = register_module("profile", Emb(v.profile.rows(), d));
  time = register_module("time", Emb(v.times.rows(), d));
  day = register_module("day", Emb(v.days.rows(), d));
  context = register_module("context", Emb(v.contexts.rows(), d));
  device = register_module("device", Emb(v.devices.rows(), d));
  hour = register_module("hour", Emb(25, d));
  feedback = register_module("feedback", Emb(5, d));
  wq = register_module("wq", torch::nn::Linear(torch::nn::LinearOptions(d, d).bias(false)));
  wk = register_module("wk", torch::nn::Linear(torch::nn::LinearOptions(d, d).bias(false)));
  wv = register_module("wv", torch::nn::Linear(torch::nn::LinearOptions(d, d).bias(false)));
  if (c.match > 0) {
    want = register_module("want", torch::nn::Linear(2 * d, c.match));
    have = register_module("have", torch::nn::Linear(d, c.match));
  }
  fc1 = register_module("fc1", torch::nn::Linear(8 * d + c.match, c.hidden));
  fc2 = register_module("fc2", torch::nn::Linear(c.hidden, c.hidden / 2));
  out = register_module("out", torch::nn::Linear(c.hidden / 2, 4));
}

torch::Tensor RankerNetImpl::Song(const SongTable& t, const torch::Tensor& rows) {
  auto id = song(t.id.index({rows}));
  if (config.song_id_dim > 0) id = song_id_proj(id);
  return id + artist(t.artist.index({rows})) + BagMean(genre, t.genres.index({rows})) +
         BagMean(tag, t.tags.index({rows})) + language(t.language.index({rows})) +
         decade(t.decade.index({rows})) + pop(t.pop.index({rows}));
}

torch::Tensor RankerNetImpl::forward(const RankerBatch& b, const SongTable& t) {
  const double scale = 1.0 / std::sqrt(static_cast<double>(config.dim));
  // Context side, once per context row.
  auto u = user(b.user) + BagMean(profile, b.profile);  // (Bc, d)
  auto s = time(b.state.select(1, 0)) + day(b.state.select(1, 1)) + context(b.state.select(1, 2)) +
           device(b.state.select(1, 3)) + hour(b.state.select(1, 4));  // (Bc, d)
  auto mask = b.hist_fb.ne(0);                                         // (Bc, L)
  // Song embeddings once per distinct song of the batch (histories repeat songs a lot).
  const int64_t bc = b.hist_song.size(0), L = b.hist_song.size(1), d = config.dim;
  torch::Tensor e;  // (Bc*L + B, d)
  if (!is_training() && song_cache.defined()) {
    e = song_cache.index({torch::cat({b.hist_song.flatten(), b.cand})});
  } else {
    auto [uniq, inverse, counts] =
        at::_unique2(torch::cat({b.hist_song.flatten(), b.cand}), /*sorted=*/false,
                     /*return_inverse=*/true, /*return_counts=*/false);
    e = Song(t, uniq).index({inverse});
  }
  auto h = e.slice(0, 0, bc * L).view({bc, L, d}) + feedback(b.hist_fb);  // (Bc, L, d)
  auto c = e.slice(0, bc * L);                                            // (B, d)
  auto maskf = mask.to(torch::kFloat32).unsqueeze(-1);                    // (Bc, L, 1)
  auto count = maskf.sum(1).clamp_min(1);                                 // (Bc, 1)
  auto mean_h = (h * maskf).sum(1) / count;                               // (Bc, d)
  auto keys = wk(h).transpose(1, 2);                                      // (Bc, d, L)
  auto vals = wv(h);                                                      // (Bc, L, d)
  // Candidate b attends over the history of its context row[b] (training: row = identity).
  const bool identity = !b.row.defined();
  const bool one_context = !identity && bc == 1;  // scoring many songs for one listener
  auto pick = [&](const torch::Tensor& x) { return identity ? x : x.index({b.row}); };
  auto q = wq(c) * scale;  // (B, d)
  torch::Tensor a;
  if (one_context) {
    // One (B, d) x (d, L) product instead of copying the history's keys for every candidate.
    auto scores = q.mm(keys[0]).masked_fill(mask[0].logical_not().unsqueeze(0), -1e9);  // (B, L)
    auto w = torch::softmax(scores, -1) * mask[0].to(torch::kFloat32).unsqueeze(0);
    a = w.mm(vals[0]);  // (B, d)
  } else {
    auto scores = torch::bmm(q.unsqueeze(1), pick(keys));  // (B, 1, L)
    auto m = pick(mask).unsqueeze(1);                      // (B, 1, L)
    scores = scores.masked_fill(m.logical_not(), -1e9);
    auto w = torch::softmax(scores, -1) * m.to(torch::kFloat32);  // empty history -> all zero
    a = torch::bmm(w, pick(vals)).squeeze(1);                     // (B, d)
  }
  const int64_t n = b.cand.size(0);
  auto rows = [&](const torch::Tensor& x) {
    return one_context ? x.expand({n, x.size(1)}) : pick(x);
  };
  auto ur = rows(u), sr = rows(s);
  std::vector<torch::Tensor> parts = {ur, sr, c, a, rows(mean_h), ur * c, sr * c, a * c};
  if (config.match > 0) parts.push_back((rows(want(torch::cat({u, s}, 1))) - have(c)).abs());
  auto x = torch::cat(parts, 1);  // (B, 8d + match)
  x = torch::silu(fc1(x));
  x = torch::silu(fc2(x));
  return out(x);  // (B, 4)
}

Ranker::Ranker(RankerConfig c, RankerVocab v, SongTable songs)
    : config_(c), vocab_(std::move(v)), songs_(std::move(songs)) {
  net_ = RankerNet(config_, vocab_);
}

void Ranker::Save(const std::string& dir, const nlohmann::json& report) const {
  std::filesystem::create_directories(dir);
  std::map<std::string, torch::Tensor> tensors;
  for (const auto& p : net_->named_parameters()) tensors["net." + p.key()] = p.value().detach();
  tensors["songs.id"] = songs_.id;
  tensors["songs.artist"] = songs_.artist;
  tensors["songs.language"] = songs_.language;
  tensors["songs.decade"] = songs_.decade;
  tensors["songs.pop"] = songs_.pop;
  tensors["songs.genres"] = songs_.genres;
  tensors["songs.tags"] = songs_.tags;
  SaveSafetensors(dir + "/ranker.safetensors", tensors);
  nlohmann::json j = {
      {"format", "muchator-ranker-1"}, {"config", config_.ToJson()}, {"vocab", vocab_.ToJson()}};
  if (!report.is_null()) j["report"] = report;
  WriteFileAtomic(dir + "/ranker.json", j.dump(1) + "\n");
}

Ranker Ranker::Load(const std::string& dir) {
  const std::string meta = dir + "/ranker.json", weights = dir + "/ranker.safetensors";
  if (!std::filesystem::exists(meta) || !std::filesystem::exists(weights))
    throw Error("not a ranking model directory (ranker.json + ranker.safetensors)", dir,
                "train one with `muchator train-ranker --store DB --out DIR`");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(ReadFile(meta));
    if (j.value("format", "") != "muchator-ranker-1") throw Error("unknown format");
  } catch (const std::exception& e) {
    throw Error(std::string("unreadable ranking model metadata: ") + e.what(), meta,
                "retrain the model");
  }
  auto tensors = LoadSafetensors(weights);
  auto take = [&](const std::string& name) {
    auto it = tensors.find(name);
    if (it == tensors.end())
      throw Error("tensor '" + name + "' is missing", weights, "retrain the model");
    return it->second.clone();
  };
  SongTable songs;
  songs.id = take("songs.id");
  songs.artist = take("songs.artist");
  songs.language = take("songs.language");
  songs.decade = take("songs.decade");
  songs.pop = take("songs.pop");
  songs.genres = take("songs.genres");
  songs.tags = take("songs.tags");
  Ranker r(RankerConfig::FromJson(j.at("config")), RankerVocab::FromJson(j.at("vocab")),
           std::move(songs));
  torch::NoGradGuard g;
  for (auto& p : r.net_->named_parameters()) {
    auto w = take("net." + p.key());
    if (w.sizes() != p.value().sizes())
      throw Error("tensor 'net." + p.key() + "' has the wrong shape", weights,
                  "ranker.json and the weights disagree");
    p.value().copy_(w);
  }
  return r;
}

RankerBatch Ranker::AllocBatch(int64_t contexts, int64_t candidates) const {
  RankerBatch b;
  b.user = torch::zeros({contexts}, torch::kInt64);
  b.profile = torch::zeros({contexts, kRankerProfile}, torch::kInt64);
  b.state = torch::zeros({contexts, 5}, torch::kInt64);
  b.hist_song = torch::zeros({contexts, config_.history}, torch::kInt64);
  b.hist_fb = torch::zeros({contexts, config_.history}, torch::kInt64);
  b.cand = torch::zeros({candidates}, torch::kInt64);
  b.row = torch::zeros({candidates}, torch::kInt64);
  return b;
}

void Ranker::EncodeContext(const RankerContext& c, int64_t row, RankerBatch& b) const {
  b.user[row] = vocab_.users.Find(c.user);
  auto prof = b.profile.accessor<int64_t, 2>();
  int k = 0;
  for (const auto& [key, value] : c.profile)
    if (k < kRankerProfile) prof[row][k++] = vocab_.profile.Find(key + "=" + value);
  const StateIds s = EncodeState(vocab_, c.state);
  auto st = b.state.accessor<int64_t, 2>();
  st[row][0] = s.time, st[row][1] = s.day, st[row][2] = s.context, st[row][3] = s.device,
  st[row][4] = s.hour;
  auto hs = b.hist_song.accessor<int64_t, 2>(), hf = b.hist_fb.accessor<int64_t, 2>();
  const int64_t n = std::min<int64_t>(config_.history, static_cast<int64_t>(c.history.size()));
  const int64_t first = static_cast<int64_t>(c.history.size()) - n;
  for (int64_t j = 0; j < n; ++j) {
    const auto& [song, fb] = c.history[static_cast<size_t>(first + j)];
    hs[row][j] = vocab_.songs.Find(song);
    hf[row][j] = static_cast<int64_t>(fb) + 1;
  }
}

float Ranker::Score(const std::array<float, 4>& p) const {
  double s = 0;
  for (int k = 0; k < 4; ++k)
    s += config_.value[static_cast<size_t>(k)] * p[static_cast<size_t>(k)];
  return static_cast<float>(10.0 * s);
}

std::vector<FeedbackPrediction> Ranker::Predict(std::span<const RankerContext> contexts,
                                                std::span<const int> candidates,
                                                std::span<const int> group, int max_batch) {
  if (candidates.size() != group.size())
    throw Error("Predict: candidates and groups differ in length");
  torch::InferenceMode guard;
  net_->eval();
  if (!net_->song_cache.defined())
    net_->song_cache = net_->Song(songs_, torch::arange(songs_.id.size(0)));
  RankerBatch ctx = AllocBatch(static_cast<int64_t>(contexts.size()), 0);
  for (size_t i = 0; i < contexts.size(); ++i)
    EncodeContext(contexts[i], static_cast<int64_t>(i), ctx);
  std::vector<FeedbackPrediction> out(candidates.size());
  for (size_t b0 = 0; b0 < candidates.size(); b0 += static_cast<size_t>(max_batch)) {
    const size_t n = std::min(candidates.size() - b0, static_cast<size_t>(max_batch));
    RankerBatch b = ctx;
    b.cand = torch::empty({static_cast<int64_t>(n)}, torch::kInt64);
    b.row = torch::empty({static_cast<int64_t>(n)}, torch::kInt64);
    auto* cand = b.cand.data_ptr<int64_t>();
    auto* row = b.row.data_ptr<int64_t>();
    for (size_t i = 0; i < n; ++i) {
      const int g = group[b0 + i];
      if (g < 0 || static_cast<size_t>(g) >= contexts.size())
        throw Error("Predict: group index out of range");
      const int c = candidates[b0 + i];
      cand[i] = c >= 0 && c < songs_.id.size(0) ? c : 0;
      row[i] = g;
    }
    auto p = torch::softmax(net_->forward(b, songs_), 1).contiguous();  // (n, 4)
    const float* pp = p.data_ptr<float>();
    for (size_t i = 0; i < n; ++i) {
      auto& o = out[b0 + i];
      for (int k = 0; k < 4; ++k) o.p[static_cast<size_t>(k)] = pp[i * 4 + static_cast<size_t>(k)];
      o.score = Score(o.p);
    }
  }
  return out;
}

std::vector<FeedbackPrediction> Ranker::Predict(const RankerContext& context,
                                                std::span<const int> candidates) {
  std::vector<int> group(candidates.size(), 0);
  return Predict(std::span<const RankerContext>(&context, 1), candidates, group);
}

}  // namespace muchator
