#include "infer/gguf_read.h"

#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <cstring>
#include <fstream>

#include "core/error.h"

namespace muchator {

namespace gguf_format {

uint64_t TensorBytes(uint32_t type, uint64_t elements, const std::string& where) {
  switch (type) {
    case kGgmlF32:
      return elements * 4;
    case kGgmlF16:
    case kGgmlBF16:
      return elements * 2;
    case kGgmlQ8_0:
      if (elements % kQ8Block)
        throw Error("q8_0 tensor of " + std::to_string(elements) + " values", where);
      return elements / kQ8Block * (2 + kQ8Block);
    default:
      throw Error("ggml tensor type " + std::to_string(type) + " is not supported here", where,
                  "this reader handles f32, f16, bf16 and q8_0");
  }
}

}  // namespace gguf_format

using namespace gguf_format;  // NOLINT(google-build-using-namespace): the format's constants

const GgufFile::Tensor* GgufFile::Find(const std::string& name) const {
  for (const auto& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

namespace {

// Bounded reads from the file: every length is checked against what is left.
class In {
 public:
  explicit In(const std::string& path) : path_(path), f_(path, std::ios::binary) {
    if (!f_) throw Error("cannot open", path);
    f_.seekg(0, std::ios::end);
    size_ = static_cast<uint64_t>(f_.tellg());
    f_.seekg(0);
  }
  void Need(uint64_t n) {
    if (n > size_ - pos_)
      throw Error(
          "truncated: needs " + std::to_string(n) + " more bytes at offset " + std::to_string(pos_),
          path_);
  }
  template <typename T>
  T Pod() {
    Need(sizeof(T));
    T v;
    f_.read(reinterpret_cast<char*>(&v), sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string Str() {
    const uint64_t n = Pod<uint64_t>();
    Need(n);
    std::string s(n, '\0');
    f_.read(s.data(), static_cast<std::streamsize>(n));
    pos_ += n;
    return s;
  }
  nlohmann::ordered_json Value(uint32_t type, int depth = 0) {
    switch (type) {
      case kU8:
        return Pod<uint8_t>();
      case kI8:
        return Pod<int8_t>();
      case kU16:
        return Pod<uint16_t>();
      case kI16:
        return Pod<int16_t>();
      case kU32:
        return Pod<uint32_t>();
      case kI32:
        return Pod<int32_t>();
      case kF32v:
        return Pod<float>();
      case kBool:
        return Pod<uint8_t>() != 0;
      case kString:
        return Str();
      case kU64:
        return Pod<uint64_t>();
      case kI64:
        return Pod<int64_t>();
      case kF64:
        return Pod<double>();
      case kArray: {
        if (depth > 0) throw Error("nested array at offset " + std::to_string(pos_), path_);
        const uint32_t et = Pod<uint32_t>();
        const uint64_t n = Pod<uint64_t>();
        if (n > size_ - pos_)
          throw Error("array of " + std::to_string(n) + " values is longer than the file", path_);
        auto a = nlohmann::ordered_json::array();
        for (uint64_t i = 0; i < n; ++i) a.push_back(Value(et, depth + 1));
        return a;
      }
      default:
        throw Error("unknown metadata value type " + std::to_string(type) + " at offset " +
                        std::to_string(pos_),
                    path_);
    }
  }
  uint64_t pos() const { return pos_; }
  uint64_t size() const { return size_; }
  std::ifstream& stream() { return f_; }

 private:
  std::string path_;
  std::ifstream f_;
  uint64_t size_ = 0, pos_ = 0;
};

}  // namespace

GgufFile ReadGguf(const std::string& path) {
  In in(path);
  GgufFile f;
  if (in.Pod<uint32_t>() != 0x46554747u) throw Error("not a GGUF file (bad magic)", path);
  f.version = in.Pod<uint32_t>();
  if (f.version != 2 && f.version != 3)
    throw Error("GGUF version " + std::to_string(f.version) + " is not supported", path,
                "versions 2 and 3 are");
  const uint64_t n_tensors = in.Pod<uint64_t>(), n_kv = in.Pod<uint64_t>();
  if (n_tensors > in.size() || n_kv > in.size())
    throw Error("tensor or metadata count larger than the file", path);
  f.metadata = nlohmann::ordered_json::object();
  for (uint64_t i = 0; i < n_kv; ++i) {
    std::string key = in.Str();
    f.metadata[key] = in.Value(in.Pod<uint32_t>());
  }
  uint64_t align = kAlignment;
  if (f.metadata.contains("general.alignment")) {
    const auto& a = f.metadata["general.alignment"];
    if (!a.is_number_unsigned())
      throw Error("general.alignment is not an unsigned integer", path, "the file is corrupt");
    align = a.get<uint64_t>();
  }
  if (align == 0 || (align & (align - 1)))
    throw Error("general.alignment " + std::to_string(align) + " is not a power of two", path);
  for (uint64_t i = 0; i < n_tensors; ++i) {
    GgufFile::Tensor t;
    t.name = in.Str();
    const uint32_t nd = in.Pod<uint32_t>();
    if (nd == 0 || nd > 4)
      throw Error("tensor '" + t.name + "' has " + std::to_string(nd) + " dimensions", path);
    for (uint32_t d = 0; d < nd; ++d) {
      const uint64_t v = in.Pod<uint64_t>();
      if (v == 0 || v > (1ull << 40))
        throw Error("tensor '" + t.name + "' has dimension " + std::to_string(v), path);
      t.dims.push_back(static_cast<int64_t>(v));
    }
    t.type = in.Pod<uint32_t>();
    t.offset = in.Pod<uint64_t>();
    f.tensors.push_back(std::move(t));
  }
  f.data_start = (in.pos() + align - 1) / align * align;
  for (const auto& t : f.tensors) {
    uint64_t n = 1;
    for (int64_t d : t.dims) {
      if (n > (1ull << 40) / static_cast<uint64_t>(d))
        throw Error("tensor '" + t.name + "' is too large", path);
      n *= static_cast<uint64_t>(d);
    }
    const uint64_t bytes = TensorBytes(t.type, n, path + ": " + t.name);
    if (t.offset > in.size() || f.data_start + t.offset > in.size() ||
        bytes > in.size() - f.data_start - t.offset)
      throw Error("tensor '" + t.name + "' lies beyond the end of the file", path);
  }
  return f;
}

std::vector<float> ReadGgufValues(const std::string& path, const GgufFile& f,
                                  const std::string& name) {
  const GgufFile::Tensor* t = f.Find(name);
  if (!t) throw Error("no tensor '" + name + "'", path);
  int64_t n = 1;
  for (int64_t d : t->dims) n *= d;  // ReadGguf bounded the product by 2^40
  std::string bytes(TensorBytes(t->type, static_cast<uint64_t>(n), path), '\0');
  std::ifstream in(path, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(f.data_start + t->offset));
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!in) throw Error("cannot read tensor '" + name + "'", path);
  std::vector<float> out(static_cast<size_t>(n));
  float* o = out.data();
  const char* b = bytes.data();
  for (int64_t i = 0; i < n; ++i) {
    switch (t->type) {
      case kGgmlF32:
        std::memcpy(&o[i], b + 4 * i, 4);
        break;
      case kGgmlF16: {
        c10::Half v;
        std::memcpy(&v.x, b + 2 * i, 2);
        o[i] = static_cast<float>(v);
        break;
      }
      case kGgmlBF16: {
        c10::BFloat16 v;
        std::memcpy(&v.x, b + 2 * i, 2);
        o[i] = static_cast<float>(v);
        break;
      }
      case kGgmlQ8_0: {
        const char* blk = b + (i / kQ8Block) * (2 + kQ8Block);
        c10::Half d;
        std::memcpy(&d.x, blk, 2);
        o[i] =
            static_cast<float>(d) * static_cast<float>(static_cast<int8_t>(blk[2 + i % kQ8Block]));
        break;
      }
    }
  }
  return out;
}

}  // namespace muchator
