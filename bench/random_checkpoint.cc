// Writes a checkpoint with random weights in a named shape, for speed benchmarks of models too
// large to train here (bench/llama_bench.sh): config.json and model.safetensors, with the
// tokenizer and codec of an existing checkpoint copied beside them (the vocabulary is the
// shape's own, at least the tokenizer's; rows past the tokenizer are never produced by it).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>

#include "core/error.h"
#include "core/file.h"
#include "model/config.h"
#include "model/qwen3.h"

namespace fs = std::filesystem;
using namespace muchator;

int main(int argc, char** argv) {
  CLI::App app{
      "Write a random-weight checkpoint of a named shape (tokenizer and codec copied from --like)"};
  std::string like, shape = "qwen3-0.6b", out;
  app.add_option("--like", like, "checkpoint whose tokenizer.json (and codec.json) are copied")
      ->required();
  app.add_option(
      "--shape", shape,
      "qwen3-0.6b (Qwen3-0.6B's sizes: 28 layers, hidden 1024, vocabulary 151,936) or demo");
  app.add_option("--out", out, "output checkpoint directory")->required();
  CLI11_PARSE(app, argc, argv);
  try {
    ModelConfig c = ModelConfig::Load(like + "/config.json");
    if (shape == "qwen3-0.6b") {
      c.vocab_size = std::max<int64_t>(c.vocab_size, 151936);
      c.hidden_size = 1024, c.intermediate_size = 3072, c.num_hidden_layers = 28;
      c.num_attention_heads = 16, c.num_key_value_heads = 8, c.head_dim = 128;
      c.max_position_embeddings = 4096, c.tie_word_embeddings = true;
    } else if (shape != "demo") {
      throw Error("unknown shape '" + shape + "'", "--shape", "use qwen3-0.6b or demo");
    }
    c.Validate();
    torch::manual_seed(1);
    Qwen3ForCausalLM model(c);
    MakeDirs(out);
    SaveModel(model, out);
    for (const char* f : {"tokenizer.json", "codec.json"})
      if (fs::exists(fs::path(like) / f))
        fs::copy_file(fs::path(like) / f, fs::path(out) / f, fs::copy_options::overwrite_existing);
    std::printf("%s: %lld parameters -> %s\n", shape.c_str(),
                static_cast<long long>(c.NumParameters()), out.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "random_checkpoint: %s\n", e.what());
    return 1;
  }
  return 0;
}
