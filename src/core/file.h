// File utilities: atomic writes and streaming line reading.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace muchator {

// Writes a file atomically: data goes to a temporary file beside `path`, and Commit() fsyncs it
// and renames it over `path`, so readers see either the old file or the complete new one, never
// a partial one. Destroying the writer without Commit() removes the temporary file.
// Not thread-safe.
class AtomicWriter {
 public:
  explicit AtomicWriter(std::string path);  // throws Error if the temp file can't be created
  ~AtomicWriter();
  AtomicWriter(const AtomicWriter&) = delete;
  AtomicWriter& operator=(const AtomicWriter&) = delete;

  void Write(std::string_view data);
  void WriteLine(std::string_view line);  // data + '\n'
  void Commit();
  const std::string& path() const { return path_; }
  uint64_t bytes_written() const { return bytes_; }

 private:
  std::string path_, temp_path_;
  FILE* file_ = nullptr;
  uint64_t bytes_ = 0;
  bool committed_ = false;
};

// Atomically replaces `path` with `content`.
void WriteFileAtomic(const std::string& path, std::string_view content);

// Reads a whole file; throws Error naming the path if it can't be read.
std::string ReadFile(const std::string& path);

bool FileExists(const std::string& path);
// Creates a directory and its parents; throws Error on failure.
void MakeDirs(const std::string& path);

// Streams a file line by line with bounded memory: lines longer than `max_line_bytes` are
// reported as too long (their content is skipped), never buffered whole.
class LineReader {
 public:
  explicit LineReader(const std::string& path, size_t max_line_bytes = 16 << 20);
  ~LineReader();
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  // Reads the next line (without '\n', and without a trailing '\r'). Returns false at end of file.
  bool Next(std::string& line);
  int64_t line_number() const { return line_number_; }  // 1-based number of the last line read
  bool last_line_too_long() const { return too_long_; }
  bool last_line_unterminated() const { return unterminated_; }  // no '\n' at end of file
  uint64_t bytes_read() const { return bytes_read_; }

 private:
  FILE* file_ = nullptr;
  std::string path_;
  size_t max_line_bytes_;
  int64_t line_number_ = 0;
  uint64_t bytes_read_ = 0;
  bool too_long_ = false, unterminated_ = false;
};

// A read-only memory-mapped file. Empty files map to an empty span.
class MappedFile {
 public:
  explicit MappedFile(const std::string& path);  // throws Error naming the path
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const char* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  const char* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace muchator
