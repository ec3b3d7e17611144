// libFuzzer harness for the GGUF reader (infer/gguf_read.h): any bytes as a .gguf file - magic,
// version, counts, metadata of every value type, arrays, the tensor table, alignment and
// offsets. A bad file may only end as muchator::Error with the file and byte offset; a file that
// reads must have metadata that `export-gguf --inspect` can print and tensors whose values can
// be read (f32, f16, bf16, q8_0).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/error.h"
#include "infer/gguf_read.h"
#include "scratch_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const muchator::fuzz::ScratchFile file("gguf_fuzz", ".gguf");
  const std::string& path = file.Write(data, size);
  try {
    const muchator::GgufFile g = muchator::ReadGguf(path);
    (void)g.metadata.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    int read = 0;
    for (const auto& t : g.tensors) {
      if (++read > 4) break;  // a few tensors reach every type's reader
      const auto values = muchator::ReadGgufValues(path, g, t.name);
      uint64_t n = 1;
      for (int64_t d : t.dims) n *= static_cast<uint64_t>(d);
      if (values.size() != n) std::abort();
    }
  } catch (const muchator::Error&) {
  }
  return 0;
}
