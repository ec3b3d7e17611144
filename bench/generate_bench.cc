// Generation speed at the demo model size on this machine, with a checkpoint from the main job:
//   - decode tokens/s at batch 1, 8 and 32 (free decoding, fixed length, after pre-fill), with one
//     prompt for the batch (a GRPO group: its KV shared) and with each listener's own prompt;
//   - time to first token and time for a complete constrained 10-song answer, one request at a
//     time, median and p99 over --requests real test queries with their users' contexts, cold
//     (nothing cached) and warm (the listener's context in the prefix cache).
// clang-format off
//   build/bench/generate_bench --model runs/demo/pretrain/stage3_behaviour/final --store runs/demo/store.sqlite
// clang-format on
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/log.h"
#include "core/threads.h"
#include "data/store.h"
#include "infer/checkpoint.h"
#include "infer/engine.h"
#include "text/chat.h"

using namespace muchator;

namespace {

using Clock = std::chrono::steady_clock;
double Seconds(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double Quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * (v.size() - 1) + 0.5))];
}

// Decode tokens/s of `batch` sequences generating `tokens` each: the steps after pre-fill.
// group: one prompt for all, kept in the prefix cache (as GRPO samples a group), so the
// sequences share its KV; else each sequence has its own listener's prompt.
double DecodeRate(Engine& engine, const std::vector<std::vector<int>>& prompts, int batch,
                  int tokens, bool group) {
  std::vector<int> handles;
  for (int i = 0; i < batch; ++i) {
    GenerationRequest r;
    r.prompt = prompts[group ? 0 : i % prompts.size()];
    if (group) r.cache_prefix = static_cast<int>(r.prompt.size()) - 1;
    r.sampling.temperature = 1.0;  // the group's sequences go different ways
    r.sampling.seed = i;
    r.stop_tokens = {-1};
    r.sampling.max_new_tokens = tokens;
    handles.push_back(engine.Submit(std::move(r)));
  }
  engine.Step();  // pre-fill (and the first token)
  const auto t0 = Clock::now();
  int steps = 0;
  while (engine.Step()) ++steps;
  const double s = Seconds(t0);
  for (int h : handles) engine.Take(h);
  return batch * static_cast<double>(steps) / s;
}

// A GRPO rollout group: `batch` constrained 10-song answers to one prompt, sampled at
// temperature 1 with different seeds, its prompt pre-filled once (prefix cache). Returns the
// group's seconds and adds its generated tokens to *tokens.
double GroupSeconds(Engine& engine, const std::vector<int>& prompt, int batch, int seed,
                    double* tokens) {
  std::vector<GenerationRequest> group;
  for (int i = 0; i < batch; ++i) {
    GenerationRequest r;
    r.prompt = prompt;
    r.cache_prefix = static_cast<int>(prompt.size()) - 1;
    ConstraintOptions c;
    c.num_items = 10;
    c.allow_sentence = false;
    r.constraint = c;
    r.sampling.temperature = 1.0;
    r.sampling.seed = seed * batch + i;
    r.sampling.max_new_tokens = 400;
    group.push_back(std::move(r));
  }
  const auto t0 = Clock::now();
  const auto results = engine.Generate(std::move(group));
  const double s = Seconds(t0);
  for (const auto& res : results) *tokens += static_cast<double>(res.tokens.size());
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Generation speed: decode tokens/s at batch 1/8/32, time to first token and full 10-song "
      "answers"};
  std::string model, codec, store_path;
  int requests = 100, runs = 3, tokens = 64, history = 20, threads = 0;
  std::vector<int> batches = {1, 8, 32};
  app.add_option(
         "--model", model,
         "checkpoint directory (config.json, model.safetensors, tokenizer.json[, codec.json])")
      ->required();
  app.add_option("--codec", codec, "codec.json, when the checkpoint has none");
  app.add_option("--store", store_path,
                 "store with test queries and users (else cold-start prompts)");
  app.add_option("--requests", requests, "answers timed one by one");
  app.add_option("--runs", runs, "repetitions of each decode-rate measurement (median reported)");
  app.add_option("--tokens", tokens, "tokens per sequence in the decode-rate runs");
  app.add_option("--history", history, "recent events in each prompt");
  app.add_option("--batches", batches,
                 "batch sizes of the decode-rate runs (the first is the reference)")
      ->delimiter(',');
  app.add_option("--threads", threads, "compute threads (0 = all cores)");
  CLI11_PARSE(app, argc, argv);
  try {
    SetupLogging(Verbosity::kQuiet);
    const int used_threads = SetupThreads(threads);
    Checkpoint ck = LoadCheckpoint(model, codec);
    if (!ck.grammar) throw Error("the benchmark needs the item codec", model, "give --codec");
    // Prompts: test queries with their users' contexts (or cold start).
    std::vector<std::vector<int>> prompts;
    std::vector<int> contexts;  // tokens of each prompt's listener context (the cacheable prefix)
    if (!store_path.empty()) {
      Store store(store_path);
      std::vector<Query> qs;
      store.ForEachQuery(
          [&](const Query& q) {
            if (static_cast<int>(qs.size()) < requests) qs.push_back(q);
          },
          "test");
      for (const auto& q : qs) {
        UserContext ctx = q.user.empty()
                              ? UserContext{}
                              : UserContextFromStore(store, ck.catalog, q.user, q.ts, history);
        ctx.state = q.state;
        size_t context = 0;
        prompts.push_back(RenderPrompt(*ck.tok, *ck.codec, ctx, q.text, history, &context).ids);
        contexts.push_back(static_cast<int>(context));
      }
    }
    while (static_cast<int>(prompts.size()) < requests) {
      size_t context = 0;
      prompts.push_back(RenderPrompt(*ck.tok, *ck.codec, UserContext{},
                                     "something for a rainy evening drive", history, &context)
                            .ids);
      contexts.push_back(static_cast<int>(context));
    }
    std::vector<double> lens;
    for (auto& p : prompts) lens.push_back(static_cast<double>(p.size()));
    std::printf(
        "model %s: %lld parameters, vocabulary %lld; %d threads; %d prompts, median %.0f tokens "
        "(max %.0f)\n",
        model.c_str(), static_cast<long long>(ck.model->config().NumParameters()),
        static_cast<long long>(ck.model->config().vocab_size), used_threads, requests,
        Quantile(lens, 0.5), Quantile(lens, 1.0));

    nlohmann::json figures = {{"prompt_tokens_median", Quantile(lens, 0.5)},
                              {"threads", used_threads}};
    Engine engine(ck.model, *ck.tok, ck.grammar.get(), {32, 0});
    // The reference: the same engine with an fp32 KV cache, where the default one is bf16.
    EngineOptions fp32_cache_options{32, 0};
    fp32_cache_options.bf16_kv_cache = false;
    std::unique_ptr<Engine> fp32_cache;
    if (engine.kv_cache_bf16())
      fp32_cache =
          std::make_unique<Engine>(ck.model, *ck.tok, ck.grammar.get(), fp32_cache_options);
    std::printf("KV cache: %s%s\n", engine.kv_cache_bf16() ? "bf16" : "fp32",
                fp32_cache ? " (fp32 cache as the reference, interleaved)" : "");
    figures["kv_cache"] = engine.kv_cache_bf16() ? "bf16" : "fp32";
    DecodeRate(engine, prompts, 1, 8, false);  // warm up
    if (fp32_cache) DecodeRate(*fp32_cache, prompts, 1, 8, false);
    double rate1 = 0;
    for (int batch : batches) {
      // Interleaved, so that both see the same machine load.
      std::vector<double> one, many, ref;
      for (int i = 0; i < runs; ++i) {
        one.push_back(DecodeRate(engine, prompts, batch, tokens, true));
        if (batch > 1) many.push_back(DecodeRate(engine, prompts, batch, tokens, false));
        if (fp32_cache) ref.push_back(DecodeRate(*fp32_cache, prompts, batch, tokens, true));
      }
      const double med = Quantile(one, 0.5);
      if (rate1 == 0) rate1 = med;
      std::printf("decode batch %2d: %8.0f tokens/s one prompt (%.2fx batch %d)", batch, med,
                  med / rate1, batches[0]);
      figures["decode_tokens_per_s_batch" + std::to_string(batch)] = med;
      if (batch > 1) {
        const double m2 = Quantile(many, 0.5);
        std::printf(", %8.0f tokens/s %d listeners' prompts (%.2fx)", m2,
                    std::min<int>(batch, prompts.size()), m2 / rate1);
        figures["decode_tokens_per_s_batch" + std::to_string(batch) + "_distinct"] = m2;
      }
      if (fp32_cache) {
        const double r = Quantile(ref, 0.5);
        std::printf("; fp32 cache %8.0f tokens/s one prompt (bf16 %.2fx)", r, med / r);
        figures["decode_tokens_per_s_batch" + std::to_string(batch) + "_fp32_cache"] = r;
      }
      std::printf(" (medians of %d)\n", runs);
    }

    // GRPO's rollouts: groups of 8 constrained answers to one prompt (a new prompt each run).
    {
      std::vector<double> secs, ref_secs;
      double toks = 0, ref_toks = 0;
      for (int i = 0; i < runs; ++i) {
        const auto& prompt = prompts[i % prompts.size()];
        secs.push_back(GroupSeconds(engine, prompt, 8, i, &toks));
        if (fp32_cache) ref_secs.push_back(GroupSeconds(*fp32_cache, prompt, 8, i, &ref_toks));
      }
      double total = 0;
      for (double x : secs) total += x;
      std::printf(
          "GRPO group, 8 constrained 10-song answers to one prompt: median %.1f ms per group, %.0f "
          "tokens/s",
          Quantile(secs, 0.5) * 1e3, toks / total);
      figures["group8_ms_median"] = Quantile(secs, 0.5) * 1e3;
      if (fp32_cache) {
        double ref_total = 0;
        for (double x : ref_secs) ref_total += x;
        std::printf("; fp32 cache %.1f ms (bf16 %.2fx)", Quantile(ref_secs, 0.5) * 1e3,
                    Quantile(ref_secs, 0.5) / Quantile(secs, 0.5));
        figures["group8_ms_median_fp32_cache"] = Quantile(ref_secs, 0.5) * 1e3;
      }
      std::printf(" (%d groups)\n", runs);
    }

    // Complete answers one at a time. Cold: nothing cached (prefix cache off). Warm: the
    // listener's context (profile + history) is in the prefix cache from an earlier request, as
    // for a returning listener or the next turn of a conversation.
    EngineOptions cold_options;
    cold_options.prefix_cache_mb = 0;
    Engine cold_engine(ck.model, *ck.tok, ck.grammar.get(), cold_options);
    // A fresh engine for the warm answers: the decode-rate runs left their prompts in `engine`'s
    // prefix cache, which would be a longer hit than the listener's context for prompts[0].
    Engine warm_engine(ck.model, *ck.tok, ck.grammar.get(), EngineOptions{});
    for (const char* mode : {"cold", "warm"}) {
      const bool warm = std::string(mode) == "warm";
      Engine& e = warm ? warm_engine : cold_engine;
      for (bool sentence : {false, true}) {
        std::vector<double> ttft, total, ntok, passes;
        for (int i = 0; i < requests; ++i) {
          GenerationRequest r;
          r.prompt = prompts[i];
          r.cache_prefix = warm ? contexts[i] : 0;
          ConstraintOptions c;
          c.num_items = 10;
          c.allow_sentence = sentence;
          r.constraint = c;
          r.sampling.max_new_tokens = 400;
          if (warm) e.Generate({r});  // the earlier request that cached the context
          auto res = e.Generate({r})[0];
          if (res.items.size() != 10)
            throw Error("an answer has " + std::to_string(res.items.size()) + " items");
          if (warm && res.cached_prompt_tokens != contexts[i])
            throw Error("the context was not taken from the cache");
          ttft.push_back(res.first_token_s * 1e3);
          total.push_back(res.total_s * 1e3);
          ntok.push_back(static_cast<double>(res.tokens.size()));
          passes.push_back(res.forward_passes);
        }
        std::printf(
            "10-song answers, %s, %s sentence, batch 1: first token median %.1f ms p99 %.1f ms; "
            "complete answer "
            "median %.1f ms p99 %.1f ms; median %.0f tokens in %.0f forward passes\n",
            mode, sentence ? "with" : "no", Quantile(ttft, 0.5), Quantile(ttft, 0.99),
            Quantile(total, 0.5), Quantile(total, 0.99), Quantile(ntok, 0.5),
            Quantile(passes, 0.5));
        const std::string key = std::string(mode) + (sentence ? "_with_sentence_" : "_list_only_");
        figures[key + "first_token_ms_median"] = Quantile(ttft, 0.5);
        figures[key + "first_token_ms_p99"] = Quantile(ttft, 0.99);
        figures[key + "answer_ms_median"] = Quantile(total, 0.5);
        figures[key + "answer_ms_p99"] = Quantile(total, 0.99);
      }
    }
    std::printf("%s\n", figures.dump().c_str());
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
