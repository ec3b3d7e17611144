// The safetensors format: an 8-byte little-endian header length N, N bytes of JSON
// ({"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}},
// padded with spaces to a multiple of 8), then the tensor bytes. Written atomically; read
// memory-mapped (tensors are views into the mapping, which stays alive as long as they do).
#pragma once

#include <torch/torch.h>

#include <map>
#include <string>

namespace muchator {

// Supports float32, bfloat16, float16, int64, int32, uint8 tensors (made contiguous on CPU).
void SaveSafetensors(const std::string& path, const std::map<std::string, torch::Tensor>& tensors,
                     const std::map<std::string, std::string>& metadata = {});
std::map<std::string, torch::Tensor> LoadSafetensors(
    const std::string& path, std::map<std::string, std::string>* metadata = nullptr);

}  // namespace muchator
