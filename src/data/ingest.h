// JSONL ingestion: validates every row of DIR/<kind>.jsonl and writes the accepted ones to the
// store in one transaction. Bad rows go to a quarantine JSONL file with file, line and reason;
// for every file, accepted + quarantined = lines read. Re-ingesting the same input changes
// nothing (rows are keyed by id; events by (user, ts, song)). A failure part-way (I/O error,
// kill, --strict with bad rows) leaves the store exactly as it was.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace muchator {

// The entity kinds in ingestion order (a kind may reference kinds before it).
inline const std::vector<std::string> kIngestKinds = {"artists",   "songs",    "users",
                                                      "playlists", "comments", "documents",
                                                      "relations", "events",   "queries"};

struct IngestOptions {
  std::string input_dir;        // holds <kind>.jsonl files; missing kinds are skipped
  std::string store_path;       // SQLite store, created if missing
  std::string quarantine_path;  // "" = <store_path>.quarantine.jsonl
  bool strict = false;          // any quarantined row aborts the run and changes nothing
};

struct FileSummary {
  std::string kind, path;
  int64_t read = 0, accepted = 0, quarantined = 0;
  double seconds = 0;  // wall time spent on this file (parse, validate, write)
};

struct IngestSummary {
  std::vector<FileSummary> files;
  std::string quarantine_path;
  double seconds = 0;
  int64_t read() const;
  int64_t accepted() const;
  int64_t quarantined() const;
  nlohmann::json ToJson() const;
  std::string Table() const;  // per-file summary for people
};

// Throws Error when the input directory holds no ingestion file, the store can't be written, or
// (with `strict`) any row was quarantined.
IngestSummary Ingest(const IngestOptions& options);

}  // namespace muchator
