#include "infer/engine.h"

#include <ATen/Parallel.h>
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <limits>

#include "core/error.h"
#include "core/vec_math.h"
#include "infer/attention.h"
#include "infer/linear.h"
#include "infer/norm_rope.h"
#include "infer/simd.h"
#include "text/special_tokens.h"

namespace muchator {

namespace {
using Clock = std::chrono::steady_clock;
double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

using kernels::AttendOverCache;
using kernels::Bf16Bits;
using kernels::CacheLayer;
using kernels::kMinSharedPrefix;
using kernels::Linear;
using kernels::LinearInto;
using kernels::LinearWeights;
using kernels::MakeLinear;
using kernels::QkNormRope;
using kernels::Rms;
using kernels::SharedPrefix;
using kernels::SwiGlu;

// Length of the longest prefix of `s` that does not end inside a UTF-8 character.
size_t CompleteUtf8Prefix(const std::string& s) {
  size_t i = s.size(), back = 0;
  while (i > 0 && back < 4) {
    const unsigned char c = static_cast<unsigned char>(s[i - 1]);
    ++back;
    if ((c & 0xC0) != 0x80) {  // a lead byte (or ASCII): is its character complete?
      const size_t need = c < 0x80           ? 1
                          : (c >> 5) == 0x6  ? 2
                          : (c >> 4) == 0xE  ? 3
                          : (c >> 3) == 0x1E ? 4
                                             : 1;
      return back >= need ? s.size() : i - 1;
    }
    --i;
  }
  return s.size();  // only continuation bytes seen: not valid UTF-8 anyway, pass it on
}
}  // namespace

const char* FinishReasonName(FinishReason r) {
  switch (r) {
    case FinishReason::kStop:
      return "stop";
    case FinishReason::kLength:
      return "length";
    case FinishReason::kCancelled:
      return "cancelled";
  }
  return "?";
}

struct Engine::Weights {
  struct Layer {
    torch::Tensor in_norm, post_norm, q_norm, k_norm;
    LinearWeights wqkv, wo, wgu, wdown;  // bf16 copies (pre-fill) when enabled
  };
  torch::Tensor embed, norm;
  LinearWeights lm;
  std::vector<Layer> layers;
};

struct Engine::Seq {
  int handle = 0;
  GenerationRequest req;
  Rng rng{0};
  std::optional<AnswerConstraint> cons;
  std::vector<int> stops;
  std::vector<int> generated, pending;  // pending: appended but not yet in the KV cache
  int cache_len = 0;
  bool finished = false, cancelled = false;
  FinishReason finish = FinishReason::kStop;
  int forward_passes = 0, sampled = 0, cached = 0;
  // The first share_len positions of this sequence's cache are a copy of the prefix-cache entry
  // share_id (0 = none), bit for bit, as are those of every other sequence with that id.
  uint64_t share_id = 0;
  int share_len = 0;
  Clock::time_point submitted;
  double first_token_s = -1, total_s = 0;
  std::vector<int> stream_tokens;
  std::string stream_bytes;
};

Engine::Engine(Qwen3ForCausalLM model, const Tokenizer& tok, const AnswerGrammar* grammar,
               EngineOptions o)
    : model_(std::move(model)), tok_(tok), grammar_(grammar), o_(o) {
  const ModelConfig& c = model_->config();
  if (o_.max_batch < 1) throw Error("max_batch must be >= 1");
  max_len_ = o_.max_len > 0 ? o_.max_len
                            : static_cast<int>(std::min<int64_t>(1024, c.max_position_embeddings));
  if (max_len_ > c.max_position_embeddings)
    throw Error("max_len " + std::to_string(max_len_) +
                " is above the model's max_position_embeddings (" +
                std::to_string(c.max_position_embeddings) + ")");
  if (tok.vocab_size() > c.vocab_size)
    throw Error("the tokenizer has " + std::to_string(tok.vocab_size()) +
                    " tokens but the model only " + std::to_string(c.vocab_size),
                "", "use the tokenizer.json saved with the checkpoint");
  bf16_min_rows_ = o_.bf16_min_rows >= 0 ? o_.bf16_min_rows
                   : CpuHasAvx512Bf16()  ? 1
                   : CpuHasNativeBf16()  ? 64
                                         : 0;
  for (const char* t : {tok::kImEnd, tok::kEndOfText})
    if (tok.TokenId(t) >= 0) default_stops_.push_back(tok.TokenId(t));
  c10::InferenceMode guard;
  auto [cos, sin] =
      RotaryCosSin(torch::arange(max_len_, torch::kInt64).unsqueeze(0), c.head_dim, c.rope_theta);
  cos_ = cos.reshape({max_len_, c.head_dim}).contiguous();
  sin_ = sin.reshape({max_len_, c.head_dim}).contiguous();
  // Zeroed, not empty: the padding rows of a batched pre-fill attend over positions past their
  // sequence's length, and garbage there could be NaN (their outputs are never read, but keep
  // the arithmetic finite).
  // Where every forward runs in bf16, the cache is bf16 too (half the memory and the reads, and
  // the attention's products in vdpbf16ps; head sizes a multiple of 32 for its kernels).
  kv16_ = o_.bf16_kv_cache && bf16_min_rows_ == 1 && CpuHasAvx512Bf16() && c.head_dim % 32 == 0;
  const int64_t slots = o_.max_batch, KV = c.num_key_value_heads, D = c.head_dim;
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    if (kv16_) {  // CacheLayer's pairs
      k_cache_.push_back(torch::zeros({slots, KV, D / 2, max_len_, 2}, torch::kBFloat16));
      v_cache_.push_back(torch::zeros({slots, KV, (max_len_ + 1) / 2, D, 2}, torch::kBFloat16));
    } else {
      // Keys transposed, (slot, kv head, head_dim, position): decoding's scores vectorise over
      // positions.
      k_cache_.push_back(torch::zeros({slots, KV, D, max_len_}));
      v_cache_.push_back(torch::zeros({slots, KV, max_len_, D}));
    }
  }
  bytes_per_token_ = 2 * c.num_hidden_layers * KV * D * (kv16_ ? 2 : 4);
  prefixes_ =
      PrefixCache(static_cast<int64_t>(std::max(0, o_.prefix_cache_mb)) << 20, bytes_per_token_);
  RefreshWeights();
}

Engine::~Engine() = default;

void Engine::RefreshWeights() {
  torch::NoGradGuard g;
  prefixes_.Clear();  // their KV came from the old weights
  auto w = std::make_unique<Weights>();
  auto& m = *model_->model;
  w->embed = m.embed_tokens->weight.detach().to(torch::kFloat32).contiguous();
  w->lm = MakeLinear(model_->LmWeight(), bf16_min_rows_);
  w->norm = m.norm->weight.detach().to(torch::kFloat32);
  for (auto& module : *m.layers) {
    auto* layer = module->as<DecoderLayerImpl>();
    auto& a = *layer->self_attn;
    auto& f = *layer->mlp;
    Weights::Layer L;
    L.in_norm = layer->input_layernorm->weight.detach().to(torch::kFloat32);
    L.post_norm = layer->post_attention_layernorm->weight.detach().to(torch::kFloat32);
    // The attention scale 1/sqrt(head_dim) folded into q's norm weight: one multiply less per step.
    L.q_norm =
        a.q_norm->weight.detach().to(torch::kFloat32) / std::sqrt(static_cast<double>(a.head_dim));
    L.k_norm = a.k_norm->weight.detach().to(torch::kFloat32);
    // q, k and v (gate and up) in one matrix each: one matmul instead of three (two).
    const int m = bf16_min_rows_;
    L.wqkv = MakeLinear(torch::cat({a.q_proj->weight, a.k_proj->weight, a.v_proj->weight}, 0), m);
    L.wo = MakeLinear(a.o_proj->weight, m);
    L.wgu = MakeLinear(torch::cat({f.gate_proj->weight, f.up_proj->weight}, 0), m);
    L.wdown = MakeLinear(f.down_proj->weight, m);
    w->layers.push_back(std::move(L));
  }
  w_ = std::move(w);
}

int Engine::Submit(GenerationRequest r) {
  if (r.prompt.empty()) throw Error("the prompt is empty");
  if (r.cache_prefix < 0 || r.cache_prefix > static_cast<int>(r.prompt.size()))
    throw Error("cache_prefix " + std::to_string(r.cache_prefix) + " is outside the prompt (" +
                std::to_string(r.prompt.size()) + " tokens)");
  for (int t : r.prompt)
    if (t < 0 || t >= model_->config().vocab_size)
      throw Error("prompt token " + std::to_string(t) + " is outside the vocabulary");
  if (static_cast<int>(r.prompt.size()) >= max_len_)
    throw Error("the prompt has " + std::to_string(r.prompt.size()) + " tokens; at most " +
                    std::to_string(max_len_ - 1) + " fit",
                "", "shorten the user context or raise max_len");
  r.sampling.Validate();
  auto s = std::make_unique<Seq>();
  if (r.constraint) {
    if (!grammar_) throw Error("a constrained request needs an engine built with the item catalog");
    // A constrained answer is a whole list or nothing: never one cut short by the context.
    const int answer = grammar_->MaxAnswerTokens(*r.constraint);
    if (static_cast<int>(r.prompt.size()) + answer > max_len_)
      throw Error(
          "the prompt has " + std::to_string(r.prompt.size()) +
              " tokens and a complete answer of " + std::to_string(r.constraint->num_items) +
              " songs may need " + std::to_string(answer) + " more; at most " +
              std::to_string(max_len_) + " fit",
          "", "shorten the prompt (fewer history events: FitPrompt) or ask for fewer songs");
    s->cons.emplace(*grammar_, *r.constraint);
  }
  s->handle = next_handle_++;
  s->rng = Rng(r.sampling.seed);
  s->stops = r.stop_tokens.empty() ? default_stops_ : r.stop_tokens;
  s->submitted = Clock::now();
  s->pending = r.prompt;
  s->req = std::move(r);
  queue_.push_back(std::move(s));
  return queue_.back()->handle;
}

void Engine::Cancel(int handle) {
  for (auto* v : {&rows_, &queue_})
    for (auto& s : *v)
      if (s->handle == handle) s->cancelled = true;
}

bool Engine::Finished(int handle) const { return done_.count(handle) > 0; }

GenerationResult Engine::Take(int handle) {
  auto it = done_.find(handle);
  if (it == done_.end())
    throw Error("request " + std::to_string(handle) + " is not finished (or was taken)");
  Seq& s = *it->second;
  GenerationResult r;
  r.tokens = std::move(s.generated);
  if (s.cons) r.items = s.cons->items();
  r.finish = s.finish;
  r.prompt_tokens = static_cast<int>(s.req.prompt.size());
  r.cached_prompt_tokens = s.cached;
  r.forward_passes = s.forward_passes;
  r.sampled_tokens = s.sampled;
  r.first_token_s = std::max(0.0, s.first_token_s);
  r.total_s = s.total_s;
  done_.erase(it);
  return r;
}

std::vector<GenerationResult> Engine::Generate(std::vector<GenerationRequest> requests) {
  std::vector<int> handles;
  for (auto& r : requests) handles.push_back(Submit(std::move(r)));
  while (Step()) {
  }
  std::vector<GenerationResult> out;
  for (int h : handles) out.push_back(Take(h));
  return out;
}

torch::Tensor Engine::Forward(const std::vector<int>& slots) {
  const int B = static_cast<int>(slots.size());
  const ModelConfig& c = model_->config();
  const int64_t H = c.num_attention_heads, KV = c.num_key_value_heads, D = c.head_dim, g = H / KV;
  const int64_t I = c.intermediate_size;
  int64_t N = 0, T = 0;
  for (int b = 0; b < B; ++b) {
    const Seq& s = *rows_[slots[b]];
    N = std::max<int64_t>(N, s.pending.size());
    T = std::max<int64_t>(T, s.cache_len + s.pending.size());
  }
  // Rows are padded to N new tokens; a padding token (wpos -1) is not written to the cache and
  // its output is never read.
  std::vector<int64_t> ids(B * N, 0), pos(B * N, 0), wpos(B * N, -1), rowidx(B * N), last(B),
      start(B);
  for (int b = 0; b < B; ++b) {
    const Seq& s = *rows_[slots[b]];
    const int64_t L = s.cache_len, n = s.pending.size();
    for (int64_t i = 0; i < N; ++i) {
      const int64_t k = b * N + i;
      rowidx[k] = slots[b];
      ids[k] = i < n ? s.pending[i] : 0;
      pos[k] = std::min<int64_t>(L + i, max_len_ - 1);
      if (i < n) wpos[k] = L + i;
    }
    last[b] = b * N + n - 1;
    start[b] = L;
  }
  const bool bf16 = Bf16For(B * N);
  auto i64 = [](std::vector<int64_t>& v) {
    return torch::from_blob(v.data(), {static_cast<int64_t>(v.size())}, torch::kInt64);
  };
  const auto ids_t = i64(ids), last_t = i64(last);
  const double eps = c.rms_norm_eps;
  // Sequences that share a prefix (same prefix-cache entry) long enough to be worth reading once.
  std::vector<SharedPrefix> shared;
  {
    std::map<uint64_t, SharedPrefix> by_id;
    for (int b = 0; b < B; ++b) {
      const Seq& s = *rows_[slots[b]];
      if (s.share_id == 0 || s.share_len < kMinSharedPrefix) continue;
      auto& grp = by_id[s.share_id];
      grp.len = s.share_len;
      grp.members.push_back(b);
    }
    for (auto& [id, grp] : by_id)
      if (grp.members.size() > 1) shared.push_back(std::move(grp));
    shared_prefix_forwards_ += !shared.empty();
  }

  auto x = w_->embed.index_select(0, ids_t);  // (B*N, C)
  for (size_t l = 0; l < w_->layers.size(); ++l) {
    const auto& L = w_->layers[l];
    auto qkv = Linear(Rms(x, L.in_norm, eps), L.wqkv, bf16).contiguous();
    auto [q_flat, k] = QkNormRope(qkv, L.q_norm, L.k_norm, cos_, sin_, pos, H, KV, D, eps);
    const auto q = q_flat.view({B, N, H, D});
    CacheLayer cache;
    cache.ld = max_len_;
    {
      // The new keys (transposed) and values into the cache; padding tokens are not written.
      const int64_t ld = max_len_, qkv_ld = qkv.size(1);
      const float* kp = k.data_ptr<float>();
      const float* vp = qkv.data_ptr<float>() + (H + KV) * D;
      if (kv16_) {
        // bf16 pairs (CacheLayer): a key's dimensions d, d + 1 share a 32-bit pair, a value's
        // position shares one with its even or odd neighbour.
        auto* kc = reinterpret_cast<uint16_t*>(k_cache_[l].data_ptr<at::BFloat16>());
        auto* vc = reinterpret_cast<uint16_t*>(v_cache_[l].data_ptr<at::BFloat16>());
        const int64_t ld2 = (ld + 1) / 2;
        for (int64_t t = 0; t < B * N; ++t) {
          const int64_t p = wpos[t];
          if (p < 0) continue;
          for (int64_t h = 0; h < KV; ++h) {
            const int64_t block = rowidx[t] * KV + h;
            const float* kt = kp + (t * KV + h) * D;
            const float* vt = vp + t * qkv_ld + h * D;
            for (int64_t d = 0; d < D; ++d) {
              kc[((block * (D / 2) + d / 2) * ld + p) * 2 + (d & 1)] =
                  static_cast<uint16_t>(Bf16Bits(kt[d]));
              vc[((block * ld2 + p / 2) * D + d) * 2 + (p & 1)] =
                  static_cast<uint16_t>(Bf16Bits(vt[d]));
            }
          }
        }
        cache.k2 = reinterpret_cast<const uint32_t*>(kc);
        cache.v2 = reinterpret_cast<const uint32_t*>(vc);
      } else {
        float* kc = k_cache_[l].data_ptr<float>();
        float* vc = v_cache_[l].data_ptr<float>();
        for (int64_t t = 0; t < B * N; ++t) {
          if (wpos[t] < 0) continue;
          for (int64_t h = 0; h < KV; ++h) {
            const int64_t block = rowidx[t] * KV + h;
            for (int64_t d = 0; d < D; ++d)
              kc[(block * D + d) * ld + wpos[t]] = kp[(t * KV + h) * D + d];
            std::copy_n(vp + t * qkv_ld + h * D, D, vc + (block * ld + wpos[t]) * D);
          }
        }
        cache.k = kc, cache.v = vc;
      }
    }
    if (l + 1 == w_->layers.size() && N > 1) {
      // The last layer of a pre-fill: only each row's last position reaches the logits, so its
      // attention, output projection and MLP run on those B rows alone (the keys and values of
      // every position are in the cache already). About a fifth of a long pre-fill's work.
      const auto ql = q_flat.index_select(0, last_t).contiguous();  // (B, H*D), head order
      std::vector<int64_t> limit(B * g);
      for (int b = 0; b < B; ++b)  // the last position L + n - 1 sees [0, L + n)
        std::fill_n(limit.begin() + b * g, g, std::min(T, last[b] - b * N + 1 + start[b]));
      auto mixed = torch::empty({B, KV, g, D});
      AttendOverCache(ql.data_ptr<float>(), g, limit, slots, shared, KV, D, T, cache,
                      mixed.data_ptr<float>());
      const bool bf16_last = Bf16For(B);
      auto xl = x.index_select(0, last_t);
      LinearInto(mixed.view({B, H * D}), L.wo, bf16_last, xl, true);
      LinearInto(SwiGlu(Linear(Rms(xl, L.post_norm, eps), L.wgu, bf16_last), I), L.wdown, bf16_last,
                 xl, true);
      return Linear(Rms(xl, w_->norm, eps), w_->lm, bf16_last).contiguous();  // (B, V)
    }
    // Attention over the cache (this forward's keys and values are in it already), fused per
    // (sequence, KV head): the g query heads of one KV head are stacked along the query axis
    // (head h uses KV head h / g, as repeat_interleave would), row (head j, token i) seeing the
    // positions up to its own. This replaced torch matmuls over causal blocks with an additive
    // mask (bf16 scores converted to fp32 for the softmax and back): a pre-fill's attention took
    // 7.2 ms of 20, now 5.4 (bench/README.md, generation).
    const int64_t R = g * N;
    auto qg = q.view({B, N, KV, g, D}).permute({0, 2, 3, 1, 4}).reshape({B, KV, R, D}).contiguous();
    std::vector<int64_t> limit(B * R);
    for (int b = 0; b < B; ++b)
      for (int64_t j = 0; j < g; ++j)
        for (int64_t i = 0; i < N; ++i) limit[b * R + j * N + i] = std::min(T, start[b] + i + 1);
    auto mixed = torch::empty({B, KV, R, D});
    AttendOverCache(qg.data_ptr<float>(), R, limit, slots, shared, KV, D, T, cache,
                    mixed.data_ptr<float>());
    auto att = mixed.view({B, KV, g, N, D}).permute({0, 3, 1, 2, 4}).reshape({B * N, H * D});
    LinearInto(att, L.wo, bf16, x, true);
    LinearInto(SwiGlu(Linear(Rms(x, L.post_norm, eps), L.wgu, bf16), I), L.wdown, bf16, x, true);
  }
  auto h = Rms(x.index_select(0, last_t), w_->norm, eps);  // only each row's last position
  return Linear(h, w_->lm, Bf16For(B)).contiguous();       // (B, V)
}

void Engine::Append(Seq& s, int token) {
  if (s.cons) s.cons->Advance(token);
  s.generated.push_back(token);
  s.pending.push_back(token);
  s.stream_tokens.push_back(token);
  if (s.first_token_s < 0) s.first_token_s = Since(s.submitted);
  if (std::find(s.stops.begin(), s.stops.end(), token) != s.stops.end() ||
      (s.cons && s.cons->Done())) {
    s.finished = true, s.finish = FinishReason::kStop;
  } else if (static_cast<int>(s.generated.size()) >= s.req.sampling.max_new_tokens ||
             s.cache_len + static_cast<int>(s.pending.size()) >= max_len_) {
    s.finished = true, s.finish = FinishReason::kLength;
  }
}

void Engine::Advance(int row, float* logits) {
  Seq& s = *rows_[row];
  s.cache_len += static_cast<int>(s.pending.size());
  s.pending.clear();
  ++s.forward_passes;
  if (s.cancelled) {
    s.finished = true, s.finish = FinishReason::kCancelled;
    return;
  }
  // Rows past the tokenizer (the padding rows real Qwen3 checkpoints have: 151,936 rows for
  // 151,669 tokens) are never candidates: no text could be written for them.
  std::span<float> l(logits, static_cast<size_t>(std::min<int64_t>(model_->config().vocab_size,
                                                                   tok_.vocab_size())));
  if (s.req.logits_hook) s.req.logits_hook(l, s.generated);
  const std::span<const int> allowed = s.cons ? s.cons->Allowed() : std::span<const int>();
  Append(s, SampleToken(l, allowed, s.req.sampling, s.rng, &scratch_));
  ++s.sampled;
  while (!s.finished && s.cons && s.req.one_pass_continuation) {
    const auto a = s.cons->Allowed();
    if (a.size() != 1) break;
    Append(s, a[0]);
  }
  if (s.req.on_tokens) {
    s.stream_bytes += tok_.Decode(s.stream_tokens);
    const size_t n = s.finished ? s.stream_bytes.size() : CompleteUtf8Prefix(s.stream_bytes);
    s.req.on_tokens(s.stream_tokens, std::string_view(s.stream_bytes).substr(0, n));
    s.stream_bytes.erase(0, n);
  }
  s.stream_tokens.clear();
}

void Engine::Finish(int row, FinishReason why) {
  auto s = std::move(rows_[row]);
  s->finished = true;
  s->finish = why;
  s->total_s = Since(s->submitted);
  const int last = static_cast<int>(rows_.size()) - 1;
  if (row != last) {
    // Keep the running rows contiguous: the last one moves into the freed slot.
    const int64_t len = rows_[last]->cache_len;
    for (auto& t : k_cache_) t[row].narrow(2, 0, len).copy_(t[last].narrow(2, 0, len));
    const int64_t vlen = ValueRows(len);
    for (auto& t : v_cache_) t[row].narrow(1, 0, vlen).copy_(t[last].narrow(1, 0, vlen));
    rows_[row] = std::move(rows_[last]);
  }
  rows_.pop_back();
  done_.emplace(s->handle, std::move(s));
}

uint64_t Engine::SavePrefix(int row, int len) {
  const std::vector<int>& prompt = rows_[row]->req.prompt;
  if (!prefixes_.Fits(len) || prefixes_.Contains(prompt, len)) return 0;
  std::vector<torch::Tensor> k, v;
  for (size_t l = 0; l < k_cache_.size(); ++l) {
    k.push_back(k_cache_[l][row].narrow(2, 0, len).clone());
    v.push_back(v_cache_[l][row].narrow(1, 0, ValueRows(len)).clone());
  }
  return prefixes_.Insert({prompt.begin(), prompt.begin() + len}, std::move(k), std::move(v));
}

bool Engine::Step() {
  c10::InferenceMode guard;
  // Cancelled requests that never started end here.
  for (size_t i = 0; i < queue_.size();) {
    if (queue_[i]->cancelled) {
      auto s = std::move(queue_[i]);
      queue_.erase(queue_.begin() + i);
      s->finish = FinishReason::kCancelled;
      s->total_s = Since(s->submitted);
      done_.emplace(s->handle, std::move(s));
    } else {
      ++i;
    }
  }
  if (rows_.empty() && queue_.empty()) return false;
  const int running = static_cast<int>(rows_.size());
  // Admit queued requests into free slots, starting each from its longest cached prefix. A
  // request whose prompt starts with a longer prefix that one admitted now will store waits a
  // step, so a group with one context (GRPO rollouts, n answers) is pre-filled once.
  std::vector<std::vector<int>> storing;
  for (size_t i = 0; i < queue_.size() && static_cast<int>(rows_.size()) < o_.max_batch;) {
    const std::vector<int>& prompt = queue_[i]->req.prompt;
    PrefixEntry* hit = prefixes_.Find(prompt);
    const size_t hit_len = hit ? hit->tokens.size() : 0;
    bool wait = false;
    for (const auto& p : storing)
      wait |= p.size() > hit_len && p.size() < prompt.size() &&
              std::equal(p.begin(), p.end(), prompt.begin());
    if (wait) {
      ++i;
      continue;
    }
    auto s = std::move(queue_[i]);
    queue_.erase(queue_.begin() + i);
    const int slot = static_cast<int>(rows_.size());
    if (hit) {
      PrefixEntry& p = *hit;
      for (size_t l = 0; l < k_cache_.size(); ++l) {
        k_cache_[l][slot].narrow(2, 0, hit_len).copy_(p.k[l]);
        v_cache_[l][slot].narrow(1, 0, ValueRows(hit_len)).copy_(p.v[l]);
      }
      prefixes_.Touch(p);
      s->share_id = p.id, s->share_len = static_cast<int>(hit_len);
      s->cache_len = s->cached = static_cast<int>(hit_len);
      s->pending.assign(prompt.begin() + hit_len, prompt.end());
    }
    const int keep = s->req.cache_prefix;
    if (keep > static_cast<int>(hit_len) && keep < static_cast<int>(prompt.size()) &&
        prefixes_.Fits(keep))
      storing.emplace_back(prompt.begin(), prompt.begin() + keep);
    rows_.push_back(std::move(s));
  }
  const int V = model_->config().vocab_size;
  // Pre-fill the admitted requests in one forward (their first token comes out of it), then
  // decode the running ones in another: mixing them would pad every short decode row to the
  // longest prompt.
  auto run = [&](const std::vector<int>& slots) {
    if (slots.empty()) return;
    torch::Tensor logits = Forward(slots);
    for (size_t b = 0; b < slots.size(); ++b)
      Advance(slots[b], logits.data_ptr<float>() + static_cast<int64_t>(b) * V);
  };
  std::vector<int> admitted;
  for (int row = running; row < static_cast<int>(rows_.size()); ++row) admitted.push_back(row);
  run(admitted);
  for (int row = running; row < static_cast<int>(rows_.size()); ++row) {
    const int keep = rows_[row]->req.cache_prefix;
    if (keep > rows_[row]->cached) {
      const uint64_t id = SavePrefix(row, keep);
      if (id != 0) rows_[row]->share_id = id, rows_[row]->share_len = keep;  // the entry's source
    }
  }
  // Decode: a forward pads every row to the most pending tokens, so rows that feed one token
  // (sampled) and rows that feed a forced continuation (the rest of a title: several tokens)
  // go in separate forwards; padding all to the longest made a batch step cost as much as
  // decoding its rows one by one (constrained answers, measured in bench/README.md).
  std::vector<int> single, multi;
  for (int row = 0; row < running; ++row)
    (rows_[row]->pending.size() <= 1 ? single : multi).push_back(row);
  run(single);
  run(multi);
  for (int row = static_cast<int>(rows_.size()) - 1; row >= 0; --row)
    if (rows_[row]->finished) Finish(row, rows_[row]->finish);
  return true;
}

}  // namespace muchator
