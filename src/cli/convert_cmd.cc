// `muchator convert DATASET --input PATH --out DIR`: a public dataset to the ingestion format.
#include <cstdio>

#include "cli/command.h"
#include "convert/convert.h"
#include "core/file.h"
#include "core/log.h"

namespace muchator::cli {
namespace {

class ConvertCommand : public Command {
 public:
  std::string name() const override { return "convert"; }
  std::string description() const override {
    return "Convert a public music dataset (a folder under ../shared/data) into the ingestion "
           "JSONL format; "
           "prints rows read, written and skipped with reasons (docs/converters.md)";
  }
  void Declare(Options& opts) override {
    opts.Add("dataset", &dataset_, "which dataset the input is")
        .OneOf(ConvertDatasets())
        .Required()
        .Positional();
    AddPath(opts, PathFlag::kInput, &input_,
            "the dataset's folder, e.g. ../shared/data/mtg-jamendo")
        .Required();
    AddOut(opts, &out_,
           "output directory for the .jsonl files (then `muchator ingest --input DIR`)")
        .Required();
  }
  int Run(const Options& opts) override {
    spdlog::info("converting {} from {} into {}", dataset_, input_, out_);
    const ConvertSummary s = Convert(dataset_, input_, out_);
    WriteFileAtomic(out_ + "/convert.json", s.ToJson().dump(2) + "\n");
    opts.WriteEffective(out_ + "/convert.config.toml");
    std::fputs(s.Table().c_str(), stdout);
    return 0;
  }

 private:
  std::string dataset_, input_, out_;
};

}  // namespace

std::unique_ptr<Command> MakeConvertCommand() { return std::make_unique<ConvertCommand>(); }

}  // namespace muchator::cli
