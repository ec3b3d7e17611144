// llama.cpp's own decode loop, timed like muchator's engine (bench/llama_bench.sh builds it
// against the llama.cpp that node-llama-cpp ships, tests/gguf/node_modules): pre-fill the prompt
// in one batch, then greedy decoding one token at a time, argmax over the logits. No binding
// between the timer and llama_decode, so the figures are llama.cpp's, not node-llama-cpp's.
//   llama_decode MODEL.gguf BACKEND_DIR THREADS TOKENS RUNS PROMPT_FILE
// prints one JSON line: prompt_tokens, medians of ttft_ms and decode_tps over RUNS.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "ggml-backend.h"
#include "llama.h"

static double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[(v.size() - 1) / 2];
}

int main(int argc, char** argv) {
  if (argc != 7) {
    std::fprintf(stderr,
                 "usage: llama_decode MODEL.gguf BACKEND_DIR THREADS TOKENS RUNS PROMPT_FILE\n");
    return 2;
  }
  const int threads = std::atoi(argv[3]), tokens = std::atoi(argv[4]), runs = std::atoi(argv[5]);
  std::stringstream ss;
  ss << std::ifstream(argv[6]).rdbuf();
  const std::string prompt = ss.str();
  llama_log_set([](ggml_log_level, const char*, void*) {}, nullptr);
  ggml_backend_load_all_from_path(argv[2]);
  llama_backend_init();
  llama_model* model = llama_model_load_from_file(argv[1], llama_model_default_params());
  if (!model) return std::fprintf(stderr, "cannot load %s\n", argv[1]), 1;
  const llama_vocab* vocab = llama_model_get_vocab(model);
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = 1024, cp.n_batch = 1024, cp.n_ubatch = 1024, cp.n_threads = threads,
  cp.n_threads_batch = threads;
  llama_context* ctx = llama_init_from_model(model, cp);
  std::vector<llama_token> ids(prompt.size() + 16);
  ids.resize(static_cast<size_t>(llama_tokenize(vocab, prompt.data(),
                                                static_cast<int32_t>(prompt.size()), ids.data(),
                                                static_cast<int32_t>(ids.size()), false, true)));
  const int n_vocab = llama_vocab_n_tokens(vocab);
  auto argmax = [&] {
    const float* l = llama_get_logits_ith(ctx, -1);
    return static_cast<llama_token>(std::max_element(l, l + n_vocab) - l);
  };
  std::vector<double> ttft, tps;
  for (int r = 0; r <= runs; ++r) {  // run 0 warms up
    llama_memory_clear(llama_get_memory(ctx), true);
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<llama_token> p = ids;
    if (llama_decode(ctx, llama_batch_get_one(p.data(), static_cast<int32_t>(p.size())))) return 1;
    llama_token t = argmax();
    const auto t1 = std::chrono::steady_clock::now();
    for (int i = 1; i < tokens; ++i) {
      if (llama_decode(ctx, llama_batch_get_one(&t, 1))) return 1;
      t = argmax();
    }
    const auto t2 = std::chrono::steady_clock::now();
    if (r == 0) continue;
    ttft.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    tps.push_back((tokens - 1) / std::chrono::duration<double>(t2 - t1).count());
  }
  std::printf("{\"prompt_tokens\": %zu, \"ttft_ms\": %.3f, \"decode_tps\": %.1f}\n", ids.size(),
              Median(ttft), Median(tps));
  llama_free(ctx);
  llama_model_free(model);
  return 0;
}
