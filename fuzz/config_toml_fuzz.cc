// libFuzzer harness for `--config FILE` (core/options.h): any bytes as the TOML file of a command
// with options of every kind. A bad file may only end as muchator::Error naming the file and key.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/options.h"
#include "scratch_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const muchator::fuzz::ScratchFile file("config_fuzz", ".toml");
  const std::string& path = file.Write(data, size);
  std::string out = "runs/demo", size_name = "demo";
  int64_t steps = 200;
  int threads = 2;
  double lr = 3e-3;
  bool bf16 = true;
  std::vector<std::string> list;
  muchator::Options opts;
  opts.Add("out", &out, "output directory");
  opts.Add("world-size", &size_name, "size").OneOf({"tiny", "demo", "large"});
  opts.Add("steps", &steps, "steps").Range(0, 1e9);
  opts.Add("threads", &threads, "threads").Range(0, 1024);
  opts.Add("lr", &lr, "learning rate").Range(0, 10);
  opts.Add("bf16", &bf16, "bf16");
  opts.Add("baselines", &list, "names");
  try {
    opts.ApplyToml(path);
    opts.Resolve();
    (void)opts.ToToml();
  } catch (const muchator::Error&) {
  }
  return 0;
}
