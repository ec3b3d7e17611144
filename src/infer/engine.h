// The generation engine: a KV cache with one row ("slot") per sequence, batched decoding of
// sequences with different prompt lengths that finish at different times, seeded sampling,
// stop conditions, a streaming callback and a logits hook per sequence, and catalog-constrained
// answers (infer/constraint.h) whose forced continuations are appended in one forward pass.
//
// Requests can be submitted while others are being decoded (continuous batching): each Step()
// admits queued requests into free slots, pre-fills them in one batched forward, and decodes
// every running sequence by one more (sampled) token in another.
//
// Not thread-safe: one thread drives an Engine (the server serialises access).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/cpu.h"
#include "infer/constraint.h"
#include "infer/prefix_cache.h"
#include "infer/sampler.h"
#include "model/qwen3.h"
#include "text/tokenizer.h"

namespace muchator {

struct EngineOptions {
  int max_batch = 16;  // sequences decoded together (KV-cache slots)
  int max_len = 0;  // tokens per sequence (prompt + answer); 0 = min(1024, max_position_embeddings)
  // Forward passes over at least this many token rows multiply in bf16 (fp32 accumulation; the
  // model trained with bf16 autocast): under 64 rows (decoding) with the engine's AVX512-BF16
  // kernels (~1.3-1.6x fp32's tokens/s), from 64 rows (pre-fill) with torch (~3.5x). Logits then
  // differ from fp32 by bf16 rounding (tested < 5% of the largest logit). -1 = 1 where the CPU
  // has AVX512-BF16, 64 where it has only AMX-BF16, 0 elsewhere (bf16 is slower than fp32
  // there); 0 = off (exact fp32).
  int bf16_min_rows = -1;
  // With bf16_min_rows 1 (after -1 is resolved), the KV cache is bf16 too where the CPU has
  // AVX512-BF16 and head_dim is a multiple of 32 (kv_cache_bf16()); false keeps it fp32.
  bool bf16_kv_cache = true;
  // Prefix cache: the KV of prompt prefixes that requests asked to keep (GenerationRequest::
  // cache_prefix: a listener's context, a conversation so far), reused by later requests that
  // start with the same tokens, least recently used dropped first. Megabytes; 0 = off.
  int prefix_cache_mb = 64;
};

struct GenerationRequest {
  std::vector<int> prompt;  // token ids; not empty
  SamplingOptions sampling;
  // Tokens that end the sequence (included in the output). Empty = <|im_end|> and
  // <|endoftext|> where the tokenizer has them.
  std::vector<int> stop_tokens;
  // Set: the answer is constrained to the list format over catalog items (needs an engine
  // built with an AnswerGrammar). Unset: free decoding (factuality is then measurable).
  std::optional<ConstraintOptions> constraint;
  // When the constraint leaves a single continuation, append it without a forward pass per
  // token (same text either way; off only to measure or test the difference).
  bool one_pass_continuation = true;
  // Keep the KV of the first `cache_prefix` prompt tokens for later requests that start the same
  // way (RenderPrompt's context_tokens: the listener's profile and history). Requests submitted
  // together that share such a prefix are pre-filled once: the others wait one step and reuse it.
  int cache_prefix = 0;
  // Sees (and may edit, e.g. set -inf) the logits of every sampled position, before the
  // constraint and sampling; `generated` = the tokens generated so far.
  std::function<void(std::span<float> logits, std::span<const int> generated)> logits_hook;
  // Streaming: called in order as tokens are appended (sampled or forced), with the text they
  // complete (UTF-8 cut only at character boundaries; the remainder comes with later tokens).
  std::function<void(std::span<const int> tokens, std::string_view text)> on_tokens;
};

enum class FinishReason { kStop, kLength, kCancelled };
const char* FinishReasonName(FinishReason r);  // "stop", "length", "cancelled" (OpenAI's words)

struct GenerationResult {
  std::vector<int> tokens;  // generated tokens, prompt excluded, the stop token included
  std::vector<int> items;   // constrained: the catalog items in order
  FinishReason finish = FinishReason::kStop;
  int prompt_tokens = 0;
  int cached_prompt_tokens = 0;  // of which taken from the prefix cache (not pre-filled)
  int forward_passes = 0;    // batched forward passes this sequence took part in (prefill included)
  int sampled_tokens = 0;    // tokens chosen from logits; the others were forced by the constraint
  double first_token_s = 0;  // from Submit to the first generated token
  double total_s = 0;        // from Submit to the end
};

class Engine {
 public:
  // `grammar` may be null (then constrained requests are refused). The engine keeps a packed
  // copy of the model's weights: call RefreshWeights() after training changed them.
  Engine(Qwen3ForCausalLM model, const Tokenizer& tok, const AnswerGrammar* grammar = nullptr,
         EngineOptions o = {});
  ~Engine();

  // Queues a request; returns its handle. Throws Error for an invalid request (empty or too
  // long prompt, bad sampling options, a constraint without a grammar).
  int Submit(GenerationRequest request);
  // Ends a queued or running request at the next Step with FinishReason::kCancelled.
  void Cancel(int handle);
  // One round: admit queued requests, pre-fill them, decode every running sequence by one
  // sampled token. Returns false when nothing is queued or running.
  bool Step();
  bool Finished(int handle) const;
  // The result of a finished request (once; the handle is forgotten).
  GenerationResult Take(int handle);
  // Runs `requests` to completion together; results in the same order.
  std::vector<GenerationResult> Generate(std::vector<GenerationRequest> requests);

  void RefreshWeights();
  int running() const { return static_cast<int>(rows_.size()); }
  int queued() const { return static_cast<int>(queue_.size()); }
  int max_len() const { return max_len_; }
  // Prefix-cache contents: entries and their total size in bytes.
  int prefix_entries() const { return prefixes_.entries(); }
  int64_t prefix_bytes() const { return prefixes_.bytes(); }
  // Forward passes in which sequences attended over a shared prefix together (see Forward).
  int64_t shared_prefix_forwards() const { return shared_prefix_forwards_; }
  // Whether the KV cache is bf16: where every forward runs in bf16 (bf16_min_rows 1) on an
  // AVX512-BF16 CPU and head_dim is a multiple of 32; else fp32.
  bool kv_cache_bf16() const { return kv16_; }
  const Tokenizer& tokenizer() const { return tok_; }
  const AnswerGrammar* grammar() const { return grammar_; }

 private:
  struct Seq;
  struct Weights;
  // Forward over `slots` (ascending, not empty): feeds each sequence's pending tokens at its
  // current cache length and returns the logits after each one's last token, (slots, V).
  torch::Tensor Forward(const std::vector<int>& slots);
  // Chooses the next token(s) of the sequence in `row` from its logits row.
  void Advance(int row, float* logits);
  void Append(Seq& s, int token);
  void Finish(int row, FinishReason why);
  // Stores the KV of the first `len` tokens of the sequence in `row` (LRU eviction); returns
  // the new entry's id, or 0 when nothing was stored (too large, or stored already).
  uint64_t SavePrefix(int row, int len);

  Qwen3ForCausalLM model_;
  const Tokenizer& tok_;
  const AnswerGrammar* grammar_;
  EngineOptions o_;
  int max_len_;
  int bf16_min_rows_ = 0;
  // Whether a forward over `rows` token rows multiplies in bf16.
  bool Bf16For(int64_t rows) const { return bf16_min_rows_ > 0 && rows >= bf16_min_rows_; }
  // Whether the KV cache holds bf16 pairs (see engine.cc's CacheLayer) rather than fp32.
  bool kv16_ = false;
  // The cache's value rows (dim 1 of a slot's v_cache_) that hold positions [0, len).
  int64_t ValueRows(int64_t len) const { return kv16_ ? (len + 1) / 2 : len; }
  std::vector<int> default_stops_;
  std::unique_ptr<Weights> w_;
  torch::Tensor cos_, sin_;  // (max_len, head_dim)
  // Per layer: k (max_batch, kv_heads, head_dim, max_len) (keys transposed), v (max_batch,
  // kv_heads, max_len, head_dim); or in bf16 pairs: k (max_batch, kv_heads, head_dim / 2,
  // max_len, 2), v (max_batch, kv_heads, ceil(max_len / 2), head_dim, 2).
  std::vector<torch::Tensor> k_cache_, v_cache_;
  std::vector<std::unique_ptr<Seq>> rows_;   // running sequences; index = slot
  std::vector<std::unique_ptr<Seq>> queue_;  // submitted, not yet admitted
  std::map<int, std::unique_ptr<Seq>> done_;
  int next_handle_ = 0;
  std::vector<std::pair<float, int>> scratch_;
  PrefixCache prefixes_{0, 0};
  int64_t bytes_per_token_ = 0;
  int64_t shared_prefix_forwards_ = 0;
};

}  // namespace muchator
