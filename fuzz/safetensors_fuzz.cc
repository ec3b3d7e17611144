// libFuzzer harness for the safetensors header (model/safetensors_header.h): any bytes as a
// .safetensors file - the 8-byte header length, the JSON table, dtypes, shapes, data offsets and
// the metadata. A bad file may only end as muchator::Error naming what is wrong; a header that
// parses must describe byte ranges that lie inside the file and match each tensor's shape and
// dtype (every byte is read here, so ASan sees a range past the end).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/error.h"
#include "model/safetensors_header.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const char* bytes = reinterpret_cast<const char*>(data);
  muchator::SafetensorsHeader h;
  try {
    h = muchator::ParseSafetensorsHeader(bytes, size, "fuzz.safetensors");
  } catch (const muchator::Error&) {
    return 0;
  }
  if (h.data_start > size) std::abort();
  volatile uint8_t sink = 0;
  for (const auto& t : h.tensors) {
    uint64_t elements = 1;
    for (int64_t d : t.shape) {
      if (d < 0) std::abort();
      elements *= static_cast<uint64_t>(d);
    }
    if (t.end < t.begin || h.data_start + t.end > size ||
        t.end - t.begin != elements * muchator::SafetensorsDtypeSize(t.dtype, "fuzz"))
      std::abort();
    for (uint64_t i = t.begin; i < t.end; ++i) sink = sink ^ data[h.data_start + i];
  }
  return 0;
}
