// Tokenizer encoding speed on one core: the text of a generated demo world (documents, comments,
// lyrics; about 4 MB) encoded with GPT-2's real tokenizer from ../shared/tokenizers/gpt2 (or
// `--tokenizer FILE`). Reports MB/s for a fresh tokenizer (empty word cache: "cold") and for a
// second pass ("warm"), medians of `--runs`, as JSON.
//   build/bench/tokenizer_bench --runs 5
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/file.h"
#include "core/log.h"
#include "text/tokenizer.h"
#include "world/generate.h"

namespace fs = std::filesystem;
using namespace muchator;

int main(int argc, char** argv) {
  std::string tokenizer =
      std::string(MUCHATOR_SOURCE_DIR) + "/../shared/tokenizers/gpt2/gpt2-vocab.json";
  int runs = 5;
  std::string text_file;
  CLI::App app{"tokenizer encoding benchmark"};
  app.add_option("--text", text_file, "encode this file instead of the demo world's text");
  app.add_option("--tokenizer", tokenizer,
                 "tokenizer.json, or a GPT-2 *vocab.json with *merges.txt beside it");
  app.add_option("--runs", runs, "repetitions (median reported)");
  CLI11_PARSE(app, argc, argv);
  SetupLogging(Verbosity::kQuiet);

  const std::string dir = (fs::temp_directory_path() / "muchator_tok_bench").string();
  std::string text;
  if (!text_file.empty())
    text = ReadFile(text_file);
  else
    world::Generate(world::WorldConfig::ForSize("demo"), dir);
  for (auto kind : {"documents", "comments", "songs"}) {
    if (!text_file.empty()) break;
    LineReader r(dir + "/" + kind + ".jsonl");
    std::string line;
    while (r.Next(line)) {
      auto j = nlohmann::json::parse(line);
      text += j.value("text", "") + j.value("lyrics", "") + "\n";
    }
  }
  fs::remove_all(dir);

  auto load = [&] { return Tokenizer::Load(tokenizer); };
  std::vector<double> cold, warm;
  size_t tokens = 0;
  for (int run = 0; run < runs; ++run) {
    auto tok = load();
    for (int pass = 0; pass < 2; ++pass) {
      const auto t0 = std::chrono::steady_clock::now();
      tokens = tok->Encode(text).size();
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      (pass == 0 ? cold : warm).push_back(text.size() / 1e6 / s);
    }
  }
  std::sort(cold.begin(), cold.end());
  std::sort(warm.begin(), warm.end());
  std::printf(
      "{\"bench\":\"tokenizer\",\"text\":\"%s\",\"tokenizer\":\"%s\",\"text_mb\":%.2f,\"tokens\":%"
      "zu,\"runs\":%d,"
      "\"cold_mb_per_s\":%.2f,\"warm_mb_per_s\":%.2f}\n",
      text_file.empty() ? "demo world" : fs::path(text_file).filename().c_str(),
      fs::path(tokenizer).filename().c_str(), text.size() / 1e6, tokens, runs,
      cold[cold.size() / 2], warm[warm.size() / 2]);
  return 0;
}
