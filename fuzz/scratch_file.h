// The one file a harness writes its input to when the code under test reads a path, not bytes
// (TOML configs, tokenizer.json, GGUF). One per process (the pid in its name, so two fuzzers or
// two ctest replays do not share it), in the system's temporary folder (TMPDIR), and removed
// when the process exits - the harnesses used to leave one behind in /tmp on every replay.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace muchator::fuzz {

class ScratchFile {
 public:
  // `stem` names the harness, `extension` is what the reader expects (".toml", ".gguf").
  ScratchFile(const std::string& stem, const std::string& extension)
      : path_((std::filesystem::temp_directory_path() /
               ("muchator_" + stem + "_" + std::to_string(::getpid()) + extension))
                  .string()) {}
  ~ScratchFile() { std::remove(path_.c_str()); }
  ScratchFile(const ScratchFile&) = delete;
  ScratchFile& operator=(const ScratchFile&) = delete;

  // Replaces the file's content with `size` bytes; a file that cannot be written is the
  // harness's environment failing, not the code under test, so it aborts loudly.
  const std::string& Write(const void* data, size_t size) const {
    FILE* f = std::fopen(path_.c_str(), "wb");
    if (f == nullptr || std::fwrite(data, 1, size, f) != size || std::fclose(f) != 0) {
      std::perror(path_.c_str());
      std::abort();
    }
    return path_;
  }

 private:
  std::string path_;
};

}  // namespace muchator::fuzz
