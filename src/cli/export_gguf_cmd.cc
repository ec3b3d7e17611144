// `muchator export-gguf`: a checkpoint as one GGUF file for llama.cpp (docs/gguf.md).
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "core/error.h"
#include "core/file.h"
#include "infer/gguf.h"

namespace muchator::cli {
namespace {

class ExportGgufCommand : public Command {
 public:
  std::string name() const override { return "export-gguf"; }
  std::string description() const override {
    return "Write a checkpoint as a GGUF v3 file that llama.cpp, ollama and node-llama-cpp load "
           "(qwen3 "
           "architecture, tokenizer with the item tokens, ChatML template); --inspect prints a "
           "GGUF file's "
           "metadata and tensors (docs/gguf.md)";
  }
  void Declare(Options& opts) override {
    AddPath(opts, PathFlag::kModel, &model_,
            "checkpoint directory (config.json, model.safetensors, tokenizer.json)");
    AddOut(
        opts, &out_,
        "the .gguf file to write (atomically; its effective config beside it as OUT.config.toml)");
    opts.Add("type", &type_,
             "storage of the matrices: f32 (the same outputs as muchator), f16, bf16, q8_0; "
             "norms stay f32")
        .OneOf({"f32", "f16", "bf16", "q8_0"});
    opts.Add("grammar", &grammar_,
             "also write a GBNF grammar of catalog-constrained answers here (llama.cpp's "
             "--grammar-file; needs the checkpoint's codec.json)");
    opts.Add("grammar-items", &grammar_items_, "songs in an answer of --grammar").Range(1, 1000);
    opts.Add("inspect", &inspect_,
             "instead of exporting, print this GGUF file's metadata (long arrays as "
             "their length) and tensor table as JSON");
  }
  int Run(const Options& opts) override {
    if (!inspect_.empty()) {
      const GgufFile f = ReadGguf(inspect_);
      nlohmann::ordered_json meta = nlohmann::ordered_json::object();
      for (const auto& [k, v] : f.metadata.items())
        meta[k] = v.is_array() && v.size() > 16
                      ? nlohmann::ordered_json("[" + std::to_string(v.size()) + " values]")
                      : v;
      nlohmann::ordered_json tensors = nlohmann::ordered_json::array();
      for (const auto& t : f.tensors)
        tensors.push_back(
            {{"name", t.name}, {"dims", t.dims}, {"type", t.type}, {"offset", t.offset}});
      const nlohmann::ordered_json j = {
          {"version", f.version}, {"metadata", meta}, {"tensors", tensors}};
      // A hostile file's strings need not be UTF-8: shown with U+FFFD rather than failing.
      std::printf("%s\n",
                  j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace).c_str());
      return 0;
    }
    if (model_.empty() || out_.empty())
      throw Error("--model and --out are required", "export-gguf",
                  "e.g. muchator export-gguf --model runs/demo/grpo/grpo/final --out demo.gguf");
    const GgufExportStats s = ExportGguf(model_, out_, ParseGgufType(type_));
    opts.WriteEffective(out_ + ".config.toml");
    std::printf("gguf: %lld tensors, %lld parameters, %lld tokens, %s, %.1f MB -> %s\n",
                static_cast<long long>(s.tensors), static_cast<long long>(s.parameters),
                static_cast<long long>(s.vocab), type_.c_str(), static_cast<double>(s.bytes) / 1e6,
                out_.c_str());
    if (!grammar_.empty()) {
      WriteFileAtomic(grammar_, CatalogGbnf(model_, static_cast<int>(grammar_items_)));
      std::printf("grammar: %lld songs a list -> %s\n", static_cast<long long>(grammar_items_),
                  grammar_.c_str());
    }
    return 0;
  }

 private:
  std::string model_, out_, type_ = "f32", inspect_, grammar_;
  int64_t grammar_items_ = 10;
};

}  // namespace

std::unique_ptr<Command> MakeExportGgufCommand() { return std::make_unique<ExportGgufCommand>(); }

}  // namespace muchator::cli
