#include "core/step_cache.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include "core/error.h"
#include "core/file.h"

namespace muchator {

namespace fs = std::filesystem;

namespace {

// An incremental SHA-256 (OpenSSL's EVP interface; Debian's libssl-dev, already required by
// cpp-httplib).
class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new(), EVP_MD_CTX_free) {
    if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1)
      throw Error("OpenSSL cannot start a SHA-256 digest");
  }
  void Update(std::string_view data) {
    if (EVP_DigestUpdate(ctx_.get(), data.data(), data.size()) != 1)
      throw Error("OpenSSL SHA-256 update failed");
  }
  std::string Hex() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (EVP_DigestFinal_ex(ctx_.get(), md, &n) != 1) throw Error("OpenSSL SHA-256 final failed");
    static const char* kHex = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < n; ++i) {
      out += kHex[md[i] >> 4];
      out += kHex[md[i] & 15];
    }
    return out;
  }

 private:
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx_;
};

void DigestFile(const fs::path& p, Sha256& h) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(p.c_str(), "rb"), std::fclose);
  if (!f)
    throw Error(std::string("cannot read input file: ") + std::strerror(errno), p.string(),
                "check that the file exists and is readable");
  std::string buf(1 << 20, '\0');
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), f.get())) > 0) h.Update({buf.data(), n});
  if (std::ferror(f.get()))
    throw Error("read failed", p.string(), "check that the file is readable");
}

}  // namespace

std::string Sha256Hex(std::string_view data) {
  Sha256 h;
  h.Update(data);
  return h.Hex();
}

std::string DigestTree(const std::string& path) {
  const fs::path root(path);
  if (!fs::exists(root))
    throw Error("input does not exist", path, "give an existing file or directory");
  Sha256 h;
  if (!fs::is_directory(root)) {
    DigestFile(root, h);
    return h.Hex();
  }
  std::vector<fs::path> files;
  for (const auto& e :
       fs::recursive_directory_iterator(root, fs::directory_options::follow_directory_symlink))
    if (e.is_regular_file()) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const fs::path& p : files) {
    // The name and the length frame each file, so moving bytes between files changes the digest.
    const std::string rel = fs::relative(p, root).generic_string();
    h.Update(rel);
    h.Update(std::string_view("\0", 1));
    h.Update(std::to_string(fs::file_size(p)));
    h.Update(std::string_view("\0", 1));
    DigestFile(p, h);
  }
  return h.Hex();
}

StepCache::Step StepCache::Make(const std::string& name, const std::vector<std::string>& settings,
                                const Step* after, std::vector<std::string> outputs) const {
  Step s;
  s.name = name;
  s.key = "# muchator pipeline step: delete this file to redo the step\nstep = \"" + name +
          "\"\ncache-version = " + std::to_string(kVersion) + "\n";
  for (const std::string& line : settings) s.key += line + "\n";
  if (after) s.key += "after = \"" + after->name + " " + after->digest + "\"\n";
  s.digest = Sha256Hex(s.key);
  s.outputs = std::move(outputs);
  return s;
}

bool StepCache::Done(const Step& s) const {
  const std::string done = DonePath(s.name);
  if (!FileExists(done) || ReadFile(done) != s.key) return false;
  return std::all_of(s.outputs.begin(), s.outputs.end(),
                     [](const std::string& p) { return FileExists(p); });
}

bool StepCache::Interrupted(const Step& s) const {
  const std::string started = StartedPath(s.name);
  return FileExists(started) && ReadFile(started) == s.key;
}

void StepCache::Start(const Step& s) const {
  MakeDirs(dir_);
  fs::remove(DonePath(s.name));
  WriteFileAtomic(StartedPath(s.name), s.key);
}

void StepCache::Finish(const Step& s) const {
  WriteFileAtomic(DonePath(s.name), s.key);
  fs::remove(StartedPath(s.name));
}

void StepCache::Forget(const std::string& name) const {
  fs::remove(DonePath(name));
  fs::remove(StartedPath(name));
}

}  // namespace muchator
