#include "reward/ranker_train.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/log.h"
#include "core/rng.h"
#include "core/stats.h"
#include "data/store.h"
#include "world/oracle.h"

namespace muchator {
namespace {

struct Example {
  int32_t user;  // index into RankerData::users
  int32_t pos;   // event position in that user's sequence
};

// Context tensors of examples [b0, b0 + n): each example's own listener, state and the events
// before it (most recent L); candidates = the example's song.
RankerBatch MakeBatch(const Ranker& ranker, const RankerData& d, std::span<const Example> ex) {
  const int64_t n = static_cast<int64_t>(ex.size()), L = ranker.config().history;
  RankerBatch b = ranker.AllocBatch(n, n);
  b.row = torch::Tensor();  // candidate i in context i
  auto* user = b.user.data_ptr<int64_t>();
  auto* prof = b.profile.data_ptr<int64_t>();
  auto* st = b.state.data_ptr<int64_t>();
  auto* hs = b.hist_song.data_ptr<int64_t>();
  auto* hf = b.hist_fb.data_ptr<int64_t>();
  auto* cand = b.cand.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    const auto& u = d.users[static_cast<size_t>(ex[static_cast<size_t>(i)].user)];
    const int p = ex[static_cast<size_t>(i)].pos;
    user[i] = u.user;
    for (int k = 0; k < kRankerProfile; ++k)
      prof[i * kRankerProfile + k] = u.profile[static_cast<size_t>(k)];
    const StateIds& s = u.state[static_cast<size_t>(p)];
    st[i * 5 + 0] = s.time, st[i * 5 + 1] = s.day, st[i * 5 + 2] = s.context,
               st[i * 5 + 3] = s.device;
    st[i * 5 + 4] = s.hour;
    const int first = std::max(0, p - static_cast<int>(L));
    for (int j = first; j < p; ++j) {
      hs[i * L + (j - first)] = u.song[static_cast<size_t>(j)];
      hf[i * L + (j - first)] = u.feedback[static_cast<size_t>(j)];
    }
    cand[i] = u.song[static_cast<size_t>(p)];
  }
  return b;
}

std::vector<Example> Examples(const RankerData& d, bool heldout) {
  std::vector<Example> out;
  for (size_t u = 0; u < d.users.size(); ++u)
    for (size_t p = 0; p < d.users[u].ts.size(); ++p)
      if ((d.users[u].ts[p] >= d.cutoff_ts) == heldout)
        out.push_back({static_cast<int32_t>(u), static_cast<int32_t>(p)});
  return out;
}

}  // namespace

nlohmann::json ToJson(const RankerReport& r) {
  nlohmann::json j = {{"heldout_events", r.heldout_events},
                      {"heldout_loss", r.heldout_loss},
                      {"auc", r.auc},
                      {"like_vs_skip_auc", r.like_vs_skip_auc}};
  if (const auto& t = r.oracle) {
    j["oracle_like_vs_skip_auc"] = t->like_vs_skip_auc;
    j["oracle_spearman"] = t->spearman;
    j["oracle_spearman_pooled"] = t->spearman_pooled;
    j["oracle_spearman_contexts"] = t->spearman_contexts;
  }
  if (const auto& t = r.training) {
    j["epochs"] = nlohmann::json::array();
    for (size_t e = 0; e < t->epoch_train_loss.size(); ++e)
      j["epochs"].push_back(
          {{"epoch", static_cast<int64_t>(e + 1)}, {"train_loss", t->epoch_train_loss[e]}});
    j["train_events"] = t->train_events;
    j["cutoff_ts"] = t->cutoff_ts;
    j["unordered_events_skipped"] = t->unordered_events_skipped;
  }
  return j;
}

RankerReport EvaluateRanker(Ranker& ranker, const RankerData& d, const RankerTrainOptions& o,
                            const world::Oracle* oracle) {
  torch::InferenceMode guard;
  ranker.net()->eval();
  const auto ex = Examples(d, /*heldout=*/true);
  if (ex.empty())
    throw Error("no held-out events after the cutoff", "--holdout", "raise --holdout");
  std::vector<std::array<float, 4>> probs(ex.size());
  std::vector<int> label(ex.size());
  double loss = 0;
  for (size_t b0 = 0; b0 < ex.size(); b0 += 4096) {
    const size_t n = std::min<size_t>(4096, ex.size() - b0);
    auto b = MakeBatch(ranker, d, std::span<const Example>(ex).subspan(b0, n));
    auto logp = torch::log_softmax(ranker.net()->forward(b, ranker.songs()), 1).contiguous();
    const float* lp = logp.data_ptr<float>();
    for (size_t i = 0; i < n; ++i) {
      const auto& e = ex[b0 + i];
      label[b0 + i] = d.users[static_cast<size_t>(e.user)].feedback[static_cast<size_t>(e.pos)] - 1;
      for (int k = 0; k < 4; ++k)
        probs[b0 + i][static_cast<size_t>(k)] = std::exp(lp[i * 4 + static_cast<size_t>(k)]);
      loss -= lp[i * 4 + static_cast<size_t>(label[b0 + i])];
    }
  }
  RankerReport r;
  r.heldout_events = ex.size();
  r.heldout_loss = loss / static_cast<double>(ex.size());
  for (int k = 0; k < 4; ++k) {
    std::vector<std::pair<double, bool>> v;
    for (size_t i = 0; i < ex.size(); ++i)
      v.push_back({probs[i][static_cast<size_t>(k)], label[i] == k});
    r.auc[kFeedbackNames[k]] = Auc(std::move(v));
  }
  std::vector<std::pair<double, bool>> like_skip, oracle_like_skip;
  for (size_t i = 0; i < ex.size(); ++i) {
    if (label[i] != 0 && label[i] != 2) continue;
    like_skip.push_back({ranker.Score(probs[i]), label[i] == 0});
    if (oracle) {
      const auto& u = d.users[static_cast<size_t>(ex[i].user)];
      const auto& p = static_cast<size_t>(ex[i].pos);
      oracle_like_skip.push_back({oracle->Utility(u.user_id, DecodeState(d.vocab, u.state[p]),
                                                  d.vocab.songs.Value(u.song[p])),
                                  label[i] == 0});
    }
  }
  r.like_vs_skip_auc = Auc(like_skip);
  if (oracle) {
    RankerReport::Oracle& t = r.oracle.emplace();
    t.like_vs_skip_auc = Auc(oracle_like_skip);
    // Rank correlation with the oracle's utility on random catalog songs, per held-out context.
    Rng rng = Rng::Derive(o.seed, "ranker-eval");
    const int64_t songs = d.vocab.songs.rows() - 1;
    std::vector<Example> contexts = ex;
    rng.Shuffle(contexts);
    contexts.resize(std::min<size_t>(contexts.size(), static_cast<size_t>(o.eval_contexts)));
    double sum = 0;
    int counted = 0;
    std::vector<double> pooled_s, pooled_u;
    for (const auto& e : contexts) {
      const auto& u = d.users[static_cast<size_t>(e.user)];
      const State state = DecodeState(d.vocab, u.state[static_cast<size_t>(e.pos)]);
      std::vector<Example> one(static_cast<size_t>(o.eval_candidates), e);
      auto b = MakeBatch(ranker, d, one);
      std::vector<double> util;
      auto* cand = b.cand.data_ptr<int64_t>();
      for (int64_t c = 0; c < o.eval_candidates; ++c) {
        cand[c] = 1 + static_cast<int64_t>(rng.Below(static_cast<uint64_t>(songs)));
        util.push_back(
            oracle->Utility(u.user_id, state, d.vocab.songs.Value(static_cast<int>(cand[c]))));
      }
      auto p = torch::softmax(ranker.net()->forward(b, ranker.songs()), 1).contiguous();
      std::vector<double> score;
      for (int64_t c = 0; c < o.eval_candidates; ++c) {
        std::array<float, 4> pc;
        for (int k = 0; k < 4; ++k) pc[static_cast<size_t>(k)] = p[c][k].item<float>();
        score.push_back(ranker.Score(pc));
      }
      const double rho = Spearman(score, util);
      if (!std::isnan(rho)) sum += rho, ++counted;
      pooled_s.insert(pooled_s.end(), score.begin(), score.end());
      pooled_u.insert(pooled_u.end(), util.begin(), util.end());
    }
    t.spearman = counted ? sum / counted : std::nan("");
    t.spearman_pooled = Spearman(pooled_s, pooled_u);
    t.spearman_contexts = counted;
  }
  return r;
}

Ranker TrainRanker(Store& store, const RankerTrainOptions& o, const world::Oracle* oracle,
                   RankerReport* report) {
  RankerData d = LoadRankerData(store, o.holdout);
  auto train = Examples(d, /*heldout=*/false);
  if (train.empty())
    throw Error("no training events before the held-out cutoff", store.path(), "lower --holdout");
  spdlog::info("ranker: {} songs, {} users, {} events ({} train, cutoff ts {})",
               d.vocab.songs.rows() - 1, d.users.size(), d.events, train.size(), d.cutoff_ts);
  torch::manual_seed(o.seed);
  Ranker ranker(o.model, d.vocab, d.songs);
  auto& net = ranker.net();
  net->song_cache = torch::Tensor();  // recomputed after training, at the first Predict
  torch::optim::AdamW opt(net->parameters(),
                          torch::optim::AdamWOptions(o.lr).weight_decay(o.weight_decay));
  dist::Group* group = o.group.get();
  const std::vector<torch::Tensor> params = net->parameters();
  if (group) group->Broadcast(params);
  Rng rng = Rng::Derive(o.seed, "ranker-train");
  const int64_t steps_per_epoch = (static_cast<int64_t>(train.size()) + o.batch - 1) / o.batch;
  const int64_t n_epochs =
      o.epochs > 0
          ? o.epochs
          : std::clamp<int64_t>(kRankerAutoExamples / static_cast<int64_t>(train.size()), 2, 12);
  const int64_t total = steps_per_epoch * n_epochs;
  Progress progress("ranker", static_cast<uint64_t>(total), "steps");
  std::vector<double> epoch_loss;
  int64_t step = 0;
  for (int64_t epoch = 0; epoch < n_epochs; ++epoch) {
    net->train();
    rng.Shuffle(train);
    double sum = 0;
    for (int64_t s = 0; s < steps_per_epoch; ++s, ++step) {
      // Cosine decay to 10% of the rate over all steps.
      const double lr =
          o.lr * (0.1 + 0.9 * 0.5 * (1 + std::cos(M_PI * static_cast<double>(step) / total)));
      for (auto& g : opt.param_groups())
        static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
      size_t b0 = static_cast<size_t>(s * o.batch);
      size_t n = std::min(train.size() - b0, static_cast<size_t>(o.batch));
      double share = 1.0;
      if (group) {  // this rank's rows of the global batch
        const size_t ranks = static_cast<size_t>(group->size()),
                     r = static_cast<size_t>(group->rank());
        const size_t lo = n * r / ranks, hi = n * (r + 1) / ranks;
        share = static_cast<double>(hi - lo) / static_cast<double>(n);
        b0 += lo;
        n = hi - lo;
      }
      opt.zero_grad();
      double value = 0;
      if (n > 0) {  // a rank can get no row of a short last batch; it still joins the allreduce
        auto b = MakeBatch(ranker, d, std::span<const Example>(train).subspan(b0, n));
        std::vector<int64_t> labels(n);
        for (size_t i = 0; i < n; ++i)
          labels[i] = d.users[static_cast<size_t>(train[b0 + i].user)]
                          .feedback[static_cast<size_t>(train[b0 + i].pos)] -
                      1;
        auto loss = torch::nn::functional::cross_entropy(net->forward(b, ranker.songs()),
                                                         torch::tensor(labels, torch::kInt64)) *
                    share;
        loss.backward();
        value = loss.item<double>();
      }
      if (group) {
        group->AllReduceGradients(params);
        value = group->AllReduceSum(value);
      }
      opt.step();
      sum += value;
      progress.Add();
    }
    epoch_loss.push_back(sum / static_cast<double>(steps_per_epoch));
    spdlog::info("ranker epoch {}/{}: train loss {:.4f}", epoch + 1, n_epochs,
                 sum / steps_per_epoch);
  }
  progress.Finish();
  if (group && !group->root()) return ranker;             // rank 0 evaluates
  RankerReport r = EvaluateRanker(ranker, d, o, oracle);  // also leaves the net in eval mode
  r.training = {std::move(epoch_loss), train.size(), d.cutoff_ts, d.unordered_skipped};
  if (report) *report = std::move(r);
  return ranker;
}

}  // namespace muchator
