// libFuzzer harness for `--config FILE` (core/options.h): any bytes as the TOML file of a command
// with options of every kind. A bad file may only end as muchator::Error naming the file and key.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/options.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path =
      "/tmp/muchator_config_fuzz_" + std::to_string(::getpid()) + ".toml";
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) std::abort();
  std::fwrite(data, 1, size, f);
  std::fclose(f);
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
