// Converters from public music datasets (copies under ../shared/data) to the ingestion JSONL
// format of docs/data-format.md. Each reads the dataset's own files from `input` and writes
// songs/artists/users/events/documents/relations/queries .jsonl into `out`; every row written
// ingests without quarantine. docs/converters.md says what each dataset becomes.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/entities.h"

namespace muchator {

struct ConvertSummary {
  std::string dataset;
  std::map<std::string, int64_t> read;     // input file (relative to input) -> data rows read
  std::map<std::string, int64_t> written;  // output file -> rows written
  std::map<std::string, int64_t> skipped;  // "file: reason" -> rows skipped
  std::vector<std::string> notes;          // what the dataset lacks and how that was handled
  nlohmann::json ToJson() const;
  std::string Table() const;  // human-readable, one line per file
};

// Converts dataset `name` (jamendo, musiccaps, lastfm-2k, musicreconer). Throws Error for an
// unknown name or a missing input file (naming it).
ConvertSummary Convert(const std::string& name, const std::string& input, const std::string& out);
const std::vector<std::string>& ConvertDatasets();

// One MTG-Jamendo track: real ids, duration and tags ("genre---rock", "mood/theme---happy",
// "instrument---piano"; sorted, no duplicates). Read from derived/track_tags_merged.tsv, or from
// the union of the original data/**/*.tsv files when the merged file is absent.
struct JamendoTrack {
  std::string id, artist, album, path;
  double duration_s = 0;
  std::vector<std::string> tags;
};
// Tracks of an MTG-Jamendo copy at `input`, sorted by id; rows read and skipped (with reasons)
// are counted into `summary` when given. Throws Error naming a missing file.
std::vector<JamendoTrack> ReadJamendoTracks(const std::string& input,
                                            ConvertSummary* summary = nullptr);
// The ingestion song of a track: placeholder title "Jamendo track N" (the copy has no titles),
// album "Jamendo album N", genres, tags "mood:X" and "instrument:X".
Song JamendoSong(const JamendoTrack& t);
// "track_0000214" -> "214": the number of a Jamendo id, for placeholder names.
std::string JamendoNumber(const std::string& id);

// One CSV record (RFC 4180: quoted fields may hold commas, doubled quotes and newlines) from
// `text` at `*pos`; false at the end. Written here: Debian has no maintained C++ CSV library
// among the project's dependencies, and the rules are short.
bool NextCsvRecord(const std::string& text, size_t* pos, std::vector<std::string>* fields);

// The strings of a Python list literal such as "['low quality', \"90's pop\"]".
std::vector<std::string> ParsePythonStringList(const std::string& text);

}  // namespace muchator
