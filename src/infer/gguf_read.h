// Reading GGUF files without libtorch: the header, the metadata, the tensor table (every length
// and offset bounded by the file) and a tensor's values as f32. Kept apart from the writer and
// the tensor conversion (infer/gguf.h) so that the fuzz harness (fuzz/gguf_fuzz.cc) runs it under
// clang's sanitizers, which cannot compile libtorch's headers in C++20.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace muchator {

namespace gguf_format {
// GGUF metadata value types and ggml tensor types (ggml/include/gguf.h, ggml.h).
enum : uint32_t {
  kU8 = 0,
  kI8,
  kU16,
  kI16,
  kU32,
  kI32,
  kF32v,
  kBool,
  kString,
  kArray,
  kU64,
  kI64,
  kF64
};
enum : uint32_t { kGgmlF32 = 0, kGgmlF16 = 1, kGgmlQ8_0 = 8, kGgmlBF16 = 30 };
inline constexpr uint64_t kAlignment = 32;  // the writer's; a file may set general.alignment
inline constexpr int kQ8Block = 32;         // values per q8_0 block (one f16 scale, 32 int8)
// Bytes of `elements` values of ggml type `type`; throws Error (naming `where`) for a type this
// reader does not handle or a q8_0 count that is not a whole number of blocks.
uint64_t TensorBytes(uint32_t type, uint64_t elements, const std::string& where);
}  // namespace gguf_format

// A parsed GGUF file: metadata as JSON values (arrays as JSON arrays), the tensor table.
struct GgufFile {
  struct Tensor {
    std::string name;
    std::vector<int64_t> dims;  // ne[0] first (the fastest-varying dimension)
    uint32_t type = 0;          // ggml type: 0 f32, 1 f16, 8 q8_0, 30 bf16
    uint64_t offset = 0;        // from the start of the data section
  };
  uint32_t version = 0;
  nlohmann::ordered_json metadata;
  std::vector<Tensor> tensors;
  uint64_t data_start = 0;  // file offset of the data section
  const Tensor* Find(const std::string& name) const;
};

// Reads the header, metadata and tensor table of `path`. Throws Error (with the file and byte
// offset) for a file that is not GGUF v2/v3 or is truncated or inconsistent.
GgufFile ReadGguf(const std::string& path);
// The values of tensor `name` of `path` as f32 (dequantized), ne[0] fastest.
std::vector<float> ReadGgufValues(const std::string& path, const GgufFile& f,
                                  const std::string& name);

}  // namespace muchator
