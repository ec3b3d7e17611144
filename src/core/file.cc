#include "core/file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace muchator {

namespace {
std::string Errno() { return std::strerror(errno); }

void FsyncDirOf(const std::string& path) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}
}  // namespace

AtomicWriter::AtomicWriter(std::string path) : path_(std::move(path)) {
  temp_path_ = path_ + ".tmp." + std::to_string(::getpid());
  file_ = std::fopen(temp_path_.c_str(), "wb");
  if (!file_)
    throw Error("cannot create file: " + Errno(), temp_path_,
                "check that the directory exists and is writable");
  std::setvbuf(file_, nullptr, _IOFBF, 1 << 20);
}

AtomicWriter::~AtomicWriter() {
  if (file_) std::fclose(file_);
  if (!committed_) std::remove(temp_path_.c_str());
}

void AtomicWriter::Write(std::string_view data) {
  if (data.empty()) return;
  if (std::fwrite(data.data(), 1, data.size(), file_) != data.size())
    throw Error("write failed: " + Errno(), temp_path_, "check free disk space");
  bytes_ += data.size();
}

void AtomicWriter::WriteLine(std::string_view line) {
  Write(line);
  Write("\n");
}

void AtomicWriter::Commit() {
  if (std::fflush(file_) != 0 || ::fsync(::fileno(file_)) != 0)
    throw Error("flush failed: " + Errno(), temp_path_, "check free disk space");
  std::fclose(file_);
  file_ = nullptr;
  if (std::rename(temp_path_.c_str(), path_.c_str()) != 0)
    throw Error("rename failed: " + Errno(), path_);
  FsyncDirOf(path_);
  committed_ = true;
}

void WriteFileAtomic(const std::string& path, std::string_view content) {
  AtomicWriter w(path);
  w.Write(content);
  w.Commit();
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot read file", path, "check the path");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool FileExists(const std::string& path) { return std::filesystem::exists(path); }

void MakeDirs(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) throw Error("cannot create directory: " + ec.message(), path);
}

LineReader::LineReader(const std::string& path, size_t max_line_bytes)
    : path_(path), max_line_bytes_(max_line_bytes) {
  file_ = std::fopen(path.c_str(), "rb");
  if (!file_) throw Error("cannot open file: " + Errno(), path, "check the path");
  std::setvbuf(file_, nullptr, _IOFBF, 1 << 20);
}

LineReader::~LineReader() {
  if (file_) std::fclose(file_);
}

bool LineReader::Next(std::string& line) {
  line.clear();
  too_long_ = false;
  unterminated_ = false;
  bool any = false;
  for (;;) {
    int c = getc_unlocked(file_);
    if (c == EOF) {
      if (std::ferror(file_)) throw Error("read failed: " + Errno(), path_);
      if (!any) return false;
      unterminated_ = true;
      break;
    }
    any = true;
    ++bytes_read_;
    if (c == '\n') break;
    if (line.size() < max_line_bytes_) {
      line.push_back(static_cast<char>(c));
    } else {
      too_long_ = true;
    }
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  ++line_number_;
  return true;
}

MappedFile::MappedFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw Error("cannot open file: " + Errno(), path, "check the path");
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    throw Error("cannot stat file: " + Errno(), path);
  }
  size_ = static_cast<size_t>(st.st_size);
  if (size_ > 0) {
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      ::close(fd);
      throw Error("cannot map file: " + Errno(), path);
    }
    data_ = static_cast<const char*>(p);
  }
  ::close(fd);
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(const_cast<char*>(data_), size_);
}

}  // namespace muchator
