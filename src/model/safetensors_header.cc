#include "model/safetensors_header.h"

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace muchator {

size_t SafetensorsDtypeSize(const std::string& dtype, const std::string& where) {
  if (dtype == "F32" || dtype == "I32") return 4;
  if (dtype == "BF16" || dtype == "F16") return 2;
  if (dtype == "I64") return 8;
  if (dtype == "U8") return 1;
  throw Error("unsupported dtype '" + dtype + "'", where,
              "supported: F32, BF16, F16, I64, I32, U8");
}

SafetensorsHeader ParseSafetensorsHeader(const char* data, uint64_t size, const std::string& path) {
  using nlohmann::json;
  if (size < 8) throw Error("not a safetensors file (too short)", path);
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i)
    n |= static_cast<uint64_t>(static_cast<unsigned char>(data[i])) << (8 * i);
  if (n > size - 8)
    throw Error("safetensors header length " + std::to_string(n) + " exceeds the file", path);
  json header;
  try {
    header = json::parse(std::string(data + 8, n));
  } catch (const json::exception& e) {
    throw Error(std::string("safetensors header is not JSON: ") + e.what(), path);
  }
  if (!header.is_object())
    throw Error("safetensors header is not a JSON object", path, "the file is corrupt");
  SafetensorsHeader h;
  h.data_start = 8 + n;
  const uint64_t data_size = size - 8 - n;
  for (auto& item : header.items()) {
    const std::string name = item.key();  // a copy: clang 14's lambdas cannot capture bindings
    const json& v = item.value();
    if (name == "__metadata__") {
      if (!v.is_object())
        throw Error("safetensors __metadata__ is not an object", path, "the file is corrupt");
      for (const auto& [k, value] : v.items()) {
        if (!value.is_string())
          throw Error("safetensors __metadata__ '" + k + "' is not a string", path,
                      "the file is corrupt");
        h.metadata[k] = value.get<std::string>();
      }
      continue;
    }
    const auto bad = [&](const std::string& what) {
      return Error("tensor '" + name + "' " + what, path, "the file is corrupt");
    };
    if (!v.is_object() || !v.contains("dtype") || !v["dtype"].is_string() || !v.contains("shape") ||
        !v["shape"].is_array() || !v.contains("data_offsets") || !v["data_offsets"].is_array())
      throw bad("needs a string dtype, a shape array and a data_offsets array");
    SafetensorsEntry e;
    e.name = name;
    e.dtype = v["dtype"].get<std::string>();
    const size_t elem = SafetensorsDtypeSize(e.dtype, path + ": " + name);
    // Each dimension a non-negative integer and the element count without overflow (the count
    // is then compared with the byte range, which the file bounds).
    constexpr uint64_t kMax = uint64_t{1} << 62;
    uint64_t numel = 1;
    for (const auto& d : v["shape"]) {
      if (!d.is_number_unsigned() || d.get<uint64_t>() > kMax) throw bad("has a bad dimension");
      const uint64_t s = d.get<uint64_t>();
      if (s != 0 && numel > kMax / s) throw bad("has too many elements");
      numel *= s;
      e.shape.push_back(static_cast<int64_t>(s));
    }
    const json& off = v["data_offsets"];
    if (off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      throw bad("needs data_offsets [begin, end]");
    e.begin = off[0].get<uint64_t>(), e.end = off[1].get<uint64_t>();
    if (e.end < e.begin || e.end > data_size || numel > kMax / elem ||
        e.end - e.begin != numel * elem)
      throw Error("tensor '" + name + "' has inconsistent data_offsets", path,
                  "the file is corrupt");
    h.tensors.push_back(std::move(e));
  }
  return h;
}

}  // namespace muchator
