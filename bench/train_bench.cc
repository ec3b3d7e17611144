// Training speed of the Qwen3-architecture model at the demo size on this machine: tokens/s of a
// full step (forward, backward, clipping, AdamW) in fp32 and bf16, model FLOPs utilisation against
// the matrix-multiply peak measured here (before, between and after the runs; the highest
// counts), and the same model and batch in PyTorch from Python (Debian's python3-torch, same
// threads) run in the same invocation, with the ratio.
//   build/bench/train_bench --steps 10
#include <ATen/autocast_mode.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/log.h"
#include "core/threads.h"
#include "model/qwen3.h"
#include "train/trainer.h"

using namespace muchator;

namespace {

double Seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Best GFLOP/s of five timings of n x n x n matmuls in the given dtype, n = 1024 and 2048.
double PeakGflops(torch::ScalarType dtype) {
  double best = 0;
  for (const int64_t n : {1024, 2048}) {
    auto a = torch::randn({n, n}).to(dtype), b = torch::randn({n, n}).to(dtype);
    torch::matmul(a, b);
    const int reps = n == 1024 ? 4 : 1;
    for (int i = 0; i < 5; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      for (int k = 0; k < reps; ++k) torch::matmul(a, b);
      best = std::max(best, reps * 2.0 * n * n * n / Seconds(t0) / 1e9);
    }
  }
  return best;
}

double MedianTokensPerSecond(Qwen3ForCausalLM& model, int64_t batch, int64_t seq, int steps,
                             bool bf16) {
  torch::optim::AdamW opt(model->parameters(),
                          torch::optim::AdamWOptions(1e-3).betas({0.9, 0.95}).weight_decay(0.1));
  auto ids = torch::randint(0, model->config().vocab_size, {batch, seq + 1}, torch::kInt64);
  auto x = ids.slice(1, 0, seq), y = ids.slice(1, 1, seq + 1);
  auto mask = torch::ones({batch, seq});
  std::vector<double> times;
  for (int step = 0; step < steps + 2; ++step) {
    auto t0 = std::chrono::steady_clock::now();
    opt.zero_grad();
    // The trainer's own loss: with bf16 the LM head is fused with the loss (train/fused_loss.h).
    auto loss = LanguageModelLoss(model, x, {}, {}, y, mask, bf16);
    loss.backward();
    torch::nn::utils::clip_grad_norm_(model->parameters(), 1.0);
    opt.step();
    if (step >= 2) times.push_back(Seconds(t0));
  }
  std::sort(times.begin(), times.end());
  return batch * seq / times[times.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int steps = 10, threads = 0;
  int64_t batch = 8, seq = 256, vocab = 8000;
  std::string python = "/usr/bin/python3";
  CLI::App app{"training speed benchmark"};
  app.add_option("--steps", steps, "timed steps (median reported)");
  app.add_option("--threads", threads, "compute threads (0 = all cores)");
  app.add_option("--batch", batch, "rows per step");
  app.add_option("--seq", seq, "tokens per row");
  app.add_option("--vocab", vocab, "vocabulary size");
  app.add_option("--python", python, "python with torch for the side-by-side run ('' to skip)");
  CLI11_PARSE(app, argc, argv);
  SetupLogging(Verbosity::kQuiet);
  threads = SetupThreads(threads);

  ModelConfig c = ModelConfig::Named("demo");
  c.vocab_size = vocab;
  const double params = static_cast<double>(c.NumParameters());
  // FLOPs per token of a training step: 6 x parameters (matmuls incl. the tied LM head) plus
  // attention scores and values, 12 x layers x seq x heads x head_dim (forward + backward).
  const double flops_per_token =
      6 * params + 12.0 * c.num_hidden_layers * seq * c.num_attention_heads * c.head_dim;
  // The peak is measured before, between and after the training runs, and the highest of those
  // is the denominator: on this shared machine one measurement moved by up to 1.7x between days
  // while the training step did not, and a low peak would flatter the MFU.
  std::vector<double> peaks32, peaks16;
  auto measure_peaks = [&] {
    peaks32.push_back(PeakGflops(torch::kFloat32));
    peaks16.push_back(PeakGflops(torch::kBFloat16));
  };
  measure_peaks();
  nlohmann::json out = {{"bench", "train"}, {"model", "demo"}, {"parameters", params},
                        {"batch", batch},   {"seq", seq},      {"threads", threads}};
  std::vector<std::pair<std::string, double>> tokens_per_s;
  for (bool bf16 : {false, true}) {
    torch::manual_seed(0);
    Qwen3ForCausalLM model(c);
    const double tps = MedianTokensPerSecond(model, batch, seq, steps, bf16);
    measure_peaks();
    const std::string k = bf16 ? "bf16" : "fp32";
    out["ours_" + k + "_tokens_per_s"] = tps;
    tokens_per_s.emplace_back(k, tps);
    if (!python.empty()) {
      nlohmann::json cfg = {{"vocab", vocab},
                            {"hidden", c.hidden_size},
                            {"heads", c.num_attention_heads},
                            {"kv", c.num_key_value_heads},
                            {"head_dim", c.head_dim},
                            {"inter", c.intermediate_size},
                            {"layers", c.num_hidden_layers},
                            {"batch", batch},
                            {"seq", seq}};
      const std::string script = std::string(MUCHATOR_SOURCE_DIR) + "/bench/train_bench_pytorch.py";
      // PyTorch runs twice: as installed, and with the same allocator setting as ours (glibc's
      // mmap/trim thresholds through the environment), so the ratio is not only about malloc.
      const std::string cmd = python + " " + script + " --config '" + cfg.dump() + "' --threads " +
                              std::to_string(threads) + " --steps " + std::to_string(steps) +
                              (bf16 ? " --bf16" : "") + " 2>/dev/null";
      for (const std::string env : {"", "MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=1073741824 "}) {
        FILE* p = popen((env + cmd).c_str(), "r");
        std::string text;
        char buf[512];
        while (p && fgets(buf, sizeof buf, p)) text += buf;
        const std::string tag = env.empty() ? "" : "_tuned_malloc";
        if (p && pclose(p) == 0 && !text.empty()) {
          const double py = nlohmann::json::parse(text)["tokens_per_s"].get<double>();
          out["pytorch" + tag + "_" + k + "_tokens_per_s"] = py;
          out["ratio" + tag + "_" + k + "_ours_over_pytorch"] = tps / py;
        } else {
          out["pytorch_" + k] = "unavailable (install python3-torch)";
        }
      }
    }
  }
  const double peak32 = *std::max_element(peaks32.begin(), peaks32.end());
  const double peak16 = *std::max_element(peaks16.begin(), peaks16.end());
  out["peak_gflops_fp32"] = peak32, out["peak_gflops_bf16"] = peak16;
  out["peak_gflops_fp32_measured"] = peaks32, out["peak_gflops_bf16_measured"] = peaks16;
  for (const auto& [k, tps] : tokens_per_s) {
    const double mfu = tps * flops_per_token / 1e9 / (k == "bf16" ? peak16 : peak32);
    out["ours_" + k + "_mfu"] = mfu;
    std::fprintf(
        stderr,
        "%s: %.0f tokens/s, MFU %.1f%% of %.0f GFLOP/s (the highest of %zu peak measurements)\n",
        k.c_str(), tps, 100 * mfu, k == "bf16" ? peak16 : peak32, peaks32.size());
  }
  std::printf("%s\n", out.dump().c_str());
  return 0;
}
