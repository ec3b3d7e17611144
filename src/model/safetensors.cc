#include "model/safetensors.h"

#include <cstring>
#include <memory>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file.h"

namespace muchator {

using nlohmann::json;

namespace {

const char* DtypeName(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat32: return "F32";
    case torch::kBFloat16: return "BF16";
    case torch::kFloat16: return "F16";
    case torch::kInt64: return "I64";
    case torch::kInt32: return "I32";
    case torch::kUInt8: return "U8";
    default: throw Error(std::string("unsupported tensor dtype for safetensors: ") + c10::toString(t));
  }
}

torch::ScalarType DtypeOf(const std::string& name, const std::string& where) {
  if (name == "F32") return torch::kFloat32;
  if (name == "BF16") return torch::kBFloat16;
  if (name == "F16") return torch::kFloat16;
  if (name == "I64") return torch::kInt64;
  if (name == "I32") return torch::kInt32;
  if (name == "U8") return torch::kUInt8;
  throw Error("unsupported dtype '" + name + "'", where, "supported: F32, BF16, F16, I64, I32, U8");
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
    header[name] = {{"dtype", DtypeName(c.scalar_type())}, {"shape", c.sizes().vec()}, {"data_offsets", {offset, offset + bytes}}};
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
  for (const auto& c : data) w.Write(std::string_view(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size()));
  w.Commit();
}

std::map<std::string, torch::Tensor> LoadSafetensors(const std::string& path, std::map<std::string, std::string>* metadata) {
  auto file = std::make_shared<MappedFile>(path);
  if (file->size() < 8) throw Error("not a safetensors file (too short)", path);
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(static_cast<unsigned char>(file->data()[i])) << (8 * i);
  if (n > file->size() - 8) throw Error("safetensors header length " + std::to_string(n) + " exceeds the file", path);
  json header;
  try {
    header = json::parse(std::string(file->data() + 8, n));
  } catch (const json::exception& e) {
    throw Error(std::string("safetensors header is not JSON: ") + e.what(), path);
  }
  const char* base = file->data() + 8 + n;
  const uint64_t data_size = file->size() - 8 - n;
  std::map<std::string, torch::Tensor> out;
  for (auto& [name, v] : header.items()) {
    if (name == "__metadata__") {
      if (metadata) *metadata = v.get<std::map<std::string, std::string>>();
      continue;
    }
    const auto dtype = DtypeOf(v.at("dtype").get<std::string>(), path + ": " + name);
    const auto shape = v.at("shape").get<std::vector<int64_t>>();
    const auto off = v.at("data_offsets").get<std::vector<uint64_t>>();
    int64_t numel = 1;
    for (auto s : shape) numel *= s;
    if (off.size() != 2 || off[1] < off[0] || off[1] > data_size ||
        off[1] - off[0] != static_cast<uint64_t>(numel) * c10::elementSize(dtype))
      throw Error("tensor '" + name + "' has inconsistent data_offsets", path, "the file is corrupt");
    // A view into the mapping; the deleter keeps the mapping alive while any tensor uses it.
    auto keep = file;
    out[name] = torch::from_blob(const_cast<char*>(base + off[0]), shape, [keep](void*) {},
                                 torch::TensorOptions().dtype(dtype));
  }
  return out;
}

}  // namespace muchator
