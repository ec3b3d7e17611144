// `muchator tokenize` and `muchator train-tokenizer`.
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/command.h"
#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "data/store.h"
#include "text/bpe_train.h"
#include "text/flags.h"
#include "text/special_tokens.h"
#include "text/tokenizer.h"
#include "text/training_text.h"

namespace muchator::cli {
namespace {

class TokenizeCommand : public Command {
 public:
  std::string name() const override { return "tokenize"; }
  std::string description() const override {
    return "Read all of stdin as one text and print its token ids on one line (no special tokens "
           "added); --jsonl: one JSON string per line, one line of ids each; --decode reads ids "
           "and prints the text";
  }
  void Declare(Options& opts) override {
    AddPath(opts, PathFlag::kTokenizer, &path_,
            "tokenizer.json (Hugging Face format), a directory holding one, or a GPT-2 style "
            "*vocab.json with "
            "*merges.txt beside it")
        .Required();
    opts.Add("decode", &decode_, "read space-separated ids from stdin and write the decoded bytes");
    opts.Add("jsonl", &jsonl_,
             "stdin holds one JSON string per line (any text, newlines escaped): print one line of "
             "ids per string, many texts in one process");
    opts.Add("special", &special_,
             "text of added tokens (<|im_start|>, item tokens such as <|s_s12|>) becomes their "
             "ids, as in "
             "a prompt; without it such text is ordinary text");
  }
  int Run(const Options&) override {
    if (decode_ && jsonl_)
      throw Error("--decode and --jsonl together", "--jsonl",
                  "--jsonl tokenizes texts; decode one line of ids at a time");
    auto tok = Tokenizer::Load(path_);
    const std::string input((std::istreambuf_iterator<char>(std::cin)),
                            std::istreambuf_iterator<char>());
    if (decode_) {
      std::vector<int> ids;
      std::istringstream in(input);
      std::string word;
      while (in >> word) {
        size_t used = 0;
        int id = -1;
        try {
          id = std::stoi(word, &used);
        } catch (const std::exception&) {
        }
        if (used != word.size() || id < 0 || id >= tok->vocab_size())
          throw Error("'" + word + "' is not a token id of this tokenizer (0-" +
                          std::to_string(tok->vocab_size() - 1) + ")",
                      "stdin", "give space-separated integer ids");
        ids.push_back(id);
      }
      const std::string text = tok->Decode(ids);
      std::fwrite(text.data(), 1, text.size(), stdout);
      return 0;
    }
    const auto print_ids = [&](const std::string& text) {
      const auto ids = special_ ? tok->EncodeWithSpecial(text) : tok->Encode(text);
      std::string line;
      for (size_t i = 0; i < ids.size(); ++i) line += (i ? " " : "") + std::to_string(ids[i]);
      std::printf("%s\n", line.c_str());
    };
    if (!jsonl_) {
      print_ids(input);
      return 0;
    }
    std::istringstream in(input);
    std::string line;
    for (int64_t n = 1; std::getline(in, line); ++n) {
      const nlohmann::json text = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (!text.is_string())
        throw Error("line " + std::to_string(n) + " is not a JSON string", "stdin",
                    "give one JSON string per line, such as \"hello world\"");
      print_ids(text.get<std::string>());
    }
    return 0;
  }

 private:
  std::string path_;
  bool decode_ = false, special_ = false, jsonl_ = false;
};

class TrainTokenizerCommand : public Command {
 public:
  std::string name() const override { return "train-tokenizer"; }
  std::string description() const override {
    return "Train a byte-level BPE tokenizer (Qwen2 pre-tokenizer, NFC) on a store's texts and "
           "write DIR/tokenizer.json";
  }
  void Declare(Options& opts) override {
    AddStore(opts, &store_, "SQLite store from `muchator ingest`").Required();
    AddOut(opts, &out_, "output directory (tokenizer.json, tokenizer.config.toml)");
    opts.Add(kVocabSizeFlag, &o_.vocab_size);
    opts.Add("min-frequency", &o_.min_frequency, "a pair must occur this often to be merged")
        .Range(1, 1e12);
  }
  int Run(const Options& opts) override {
    Store store(store_);
    o_.special_tokens = BaseSpecialTokens();
    auto tok = TrainBpe([&](const auto& emit) { ForEachTrainingText(store, emit); }, o_);
    MakeDirs(out_);
    tok->SaveHf(out_ + "/tokenizer.json");
    opts.WriteEffective(out_ + "/tokenizer.config.toml");
    std::printf("tokenizer: %d tokens (%zu merges, %zu special) -> %s/tokenizer.json\n",
                tok->vocab_size(), tok->num_merges(), tok->added_tokens().size(), out_.c_str());
    return 0;
  }

 private:
  std::string store_, out_ = "out/tokenizer";
  BpeTrainOptions o_;
};

}  // namespace

std::unique_ptr<Command> MakeTokenizeCommand() { return std::make_unique<TokenizeCommand>(); }
std::unique_ptr<Command> MakeTrainTokenizerCommand() {
  return std::make_unique<TrainTokenizerCommand>();
}

}  // namespace muchator::cli
