#include "model/safetensors.h"

#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file.h"
#include "model/safetensors_header.h"

namespace muchator {

using nlohmann::json;

namespace {

const char* DtypeName(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat32:
      return "F32";
    case torch::kBFloat16:
      return "BF16";
    case torch::kFloat16:
      return "F16";
    case torch::kInt64:
      return "I64";
    case torch::kInt32:
      return "I32";
    case torch::kUInt8:
      return "U8";
    default:
      throw Error(std::string("unsupported tensor dtype for safetensors: ") + c10::toString(t));
  }
}

torch::ScalarType DtypeOf(const std::string& name, const std::string& where) {
  (void)SafetensorsDtypeSize(name, where);  // the one list of supported dtypes
  if (name == "F32") return torch::kFloat32;
  if (name == "BF16") return torch::kBFloat16;
  if (name == "F16") return torch::kFloat16;
  if (name == "I64") return torch::kInt64;
  if (name == "I32") return torch::kInt32;
  return torch::kUInt8;
}

}  // namespace

void SaveSafetensors(const std::string& path, const std::map<std::string, torch::Tensor>& tensors,
                     const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<torch::Tensor> data;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    torch::Tensor c = t.detach().to(torch::kCPU).contiguous();
    const uint64_t bytes = c.numel() * c.element_size();
    header[name] = {{"dtype", DtypeName(c.scalar_type())},
                    {"shape", c.sizes().vec()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    data.push_back(c);
  }
  std::string h = header.dump();
  while (h.size() % 8 != 0) h.push_back(' ');
  const uint64_t n = h.size();
  char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<char>((n >> (8 * i)) & 0xFF);
  AtomicWriter w(path);
  w.Write(std::string_view(len, 8));
  w.Write(h);
  for (const auto& c : data)
    w.Write(std::string_view(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size()));
  w.Commit();
}

std::map<std::string, torch::Tensor> LoadSafetensors(const std::string& path,
                                                     std::map<std::string, std::string>* metadata) {
  auto file = std::make_shared<MappedFile>(path);
  const SafetensorsHeader h = ParseSafetensorsHeader(file->data(), file->size(), path);
  if (metadata) *metadata = h.metadata;
  const char* base = file->data() + h.data_start;
  std::map<std::string, torch::Tensor> out;
  for (const SafetensorsEntry& e : h.tensors) {
    // A view into the mapping; the deleter keeps the mapping alive while any tensor uses it.
    auto keep = file;
    out[e.name] = torch::from_blob(
        const_cast<char*>(base + e.begin), e.shape, [keep](void*) {},
        torch::TensorOptions().dtype(DtypeOf(e.dtype, path + ": " + e.name)));
  }
  return out;
}

}  // namespace muchator
