// The safetensors header, parsed and checked without libtorch (model/safetensors.h builds the
// tensors from it): the 8-byte little-endian length, the JSON table of tensors and the
// __metadata__ strings. Kept apart so that the fuzz harness (fuzz/safetensors_fuzz.cc) can run
// it under clang's sanitizers, which cannot compile libtorch's headers in C++20.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace muchator {

struct SafetensorsEntry {
  std::string name;
  std::string dtype;            // F32, BF16, F16, I64, I32, U8
  std::vector<int64_t> shape;   // each >= 0
  uint64_t begin = 0, end = 0;  // byte range in the data section; end - begin = elements * size
};

struct SafetensorsHeader {
  std::vector<SafetensorsEntry> tensors;  // in the header's (sorted) key order
  std::map<std::string, std::string> metadata;
  uint64_t data_start = 0;  // file offset of the data section
};

// Bytes per element of a safetensors dtype; throws Error (naming `where`) for another dtype.
size_t SafetensorsDtypeSize(const std::string& dtype, const std::string& where);

// Parses and checks the header of a file of `size` bytes at `data`: a length that fits, a JSON
// object, string metadata, for each tensor a known dtype, non-negative dimensions whose product
// does not overflow and a byte range inside the data section of exactly that many elements.
// Throws Error naming `path` and what is wrong.
SafetensorsHeader ParseSafetensorsHeader(const char* data, uint64_t size, const std::string& path);

}  // namespace muchator
