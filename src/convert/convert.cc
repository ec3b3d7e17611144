#include "convert/convert.h"

#include <algorithm>
#include <filesystem>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/file.h"
#include "core/strings.h"
#include "data/entities.h"
#include "data/validate.h"

namespace muchator {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// Rows of one output file, written atomically at the end.
class JsonlOut {
 public:
  JsonlOut(std::string dir, std::string name, ConvertSummary* sum)
      : dir_(std::move(dir)), name_(std::move(name)), sum_(sum) {}
  void Add(const json& row) {
    buf_ += row.dump() + "\n";
    ++rows_;
  }
  void Write() {
    if (rows_ == 0) return;
    WriteFileAtomic(dir_ + "/" + name_, buf_);
    sum_->written[name_] = rows_;
  }

 private:
  std::string dir_, name_, buf_;
  ConvertSummary* sum_;
  int64_t rows_ = 0;
};

std::string NeedFile(const std::string& path) {
  if (!FileExists(path))
    throw Error("missing input file", path,
                "give --input the dataset's folder (see docs/converters.md)");
  return ReadFile(path);
}

// Data lines of a text file (header dropped, CR removed, empty lines skipped).
std::vector<std::string> DataLines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  bool header = true;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (header) {
      header = false;
      continue;
    }
    if (!line.empty()) lines.push_back(std::move(line));
  }
  return lines;
}

// "track_0000214" -> "214".
std::string Number(const std::string& id) {
  size_t i = id.find_last_of('_');
  std::string digits = i == std::string::npos ? id : id.substr(i + 1);
  size_t nz = digits.find_first_not_of('0');
  return nz == std::string::npos ? "0" : digits.substr(nz);
}

bool ParseDouble(const std::string& s, double* v) {
  try {
    size_t used = 0;
    *v = std::stod(s, &used);
    return used == s.size();
  } catch (const std::exception&) {
    return false;
  }
}

// ---- MTG-Jamendo ----
}  // namespace

std::vector<JamendoTrack> ReadJamendoTracks(const std::string& input, ConvertSummary* summary) {
  ConvertSummary local;
  ConvertSummary& sum = summary ? *summary : local;
  std::vector<std::string> files;
  const std::string merged = "derived/track_tags_merged.tsv";
  if (FileExists(input + "/" + merged)) {
    files.push_back(merged);
  } else {
    // The original autotagging files: the union of their tags per track.
    if (!fs::is_directory(input + "/data")) NeedFile(input + "/" + merged);
    for (const auto& e : fs::recursive_directory_iterator(input + "/data"))
      if (e.is_regular_file() && e.path().extension() == ".tsv")
        files.push_back(fs::relative(e.path(), input).string());
    std::sort(files.begin(), files.end());
  }
  std::map<std::string, JamendoTrack> tracks;
  for (const auto& f : files) {
    int64_t n = 0;
    for (const auto& line : DataLines(NeedFile(input + "/" + f))) {
      ++n;
      const auto c = Split(line, '\t');
      double duration = 0;
      if (c.size() < 5 || c[0].rfind("track_", 0) != 0 || c[1].rfind("artist_", 0) != 0) {
        ++sum.skipped[f + ": not a track row"];
        continue;
      }
      if (!ParseDouble(c[4], &duration) || duration < 0) {
        ++sum.skipped[f + ": bad duration"];
        continue;
      }
      JamendoTrack& t = tracks[c[0]];
      if (t.artist.empty()) t = JamendoTrack{c[0], c[1], c[2], c[3], duration, {}};
      for (size_t k = 5; k < c.size(); ++k)
        if (!c[k].empty() && std::find(t.tags.begin(), t.tags.end(), c[k]) == t.tags.end())
          t.tags.push_back(c[k]);
    }
    sum.read[f] = n;
  }
  std::vector<JamendoTrack> out;
  out.reserve(tracks.size());
  for (auto& [id, t] : tracks) {
    std::sort(t.tags.begin(), t.tags.end());
    out.push_back(std::move(t));
  }
  return out;
}

Song JamendoSong(const JamendoTrack& t) {
  Song s;
  s.id = t.id;
  s.title = "Jamendo track " + JamendoNumber(t.id);
  s.artists = {t.artist};
  s.album = t.album.empty() ? "" : "Jamendo album " + JamendoNumber(t.album);
  s.duration_s = t.duration_s;
  for (const auto& tag : t.tags) {
    const size_t sep = tag.find("---");
    const std::string kind = sep == std::string::npos ? "" : tag.substr(0, sep);
    const std::string value = sep == std::string::npos ? tag : tag.substr(sep + 3);
    if (kind == "genre")
      s.genres.push_back(value);
    else if (kind == "instrument")
      s.tags.push_back("instrument:" + value);
    else if (kind == "mood/theme")
      s.tags.push_back("mood:" + value);
    else
      s.tags.push_back(tag);
  }
  s.extra = {{"jamendo_path", t.path}};
  return s;
}

std::string JamendoNumber(const std::string& id) { return Number(id); }

namespace {

ConvertSummary ConvertJamendo(const std::string& input, const std::string& out) {
  ConvertSummary sum;
  sum.dataset = "jamendo";
  const std::vector<JamendoTrack> tracks = ReadJamendoTracks(input, &sum);
  JsonlOut songs(out, "songs.jsonl", &sum), artists(out, "artists.jsonl", &sum);
  std::set<std::string> artist_ids;
  for (const auto& t : tracks) {
    songs.Add(ToJson(JamendoSong(t)));
    artist_ids.insert(t.artist);
  }
  for (const auto& a : artist_ids)
    artists.Add(ToJson(Artist{a, "Jamendo artist " + Number(a), {}, "", json()}));
  artists.Write();
  songs.Write();
  sum.notes.push_back(
      "no titles, artist or album names in this copy (raw.meta.tsv is absent): placeholders "
      "'Jamendo track N', 'Jamendo artist N', 'Jamendo album N' keep the real ids");
  return sum;
}

// ---- MusicCaps ----
ConvertSummary ConvertMusicCaps(const std::string& input, const std::string& out) {
  ConvertSummary sum;
  sum.dataset = "musiccaps";
  const std::string f = "musiccaps-public.csv";
  const std::string text = NeedFile(input + "/" + f);
  JsonlOut songs(out, "songs.jsonl", &sum), docs(out, "documents.jsonl", &sum);
  size_t pos = 0;
  std::vector<std::string> c;
  NextCsvRecord(text, &pos, &c);  // header
  if (c.size() < 6 || c[0] != "ytid" || c[5] != "caption")
    throw Error(
        "unexpected header (want "
        "ytid,start_s,end_s,audioset_positive_labels,aspect_list,caption,...)",
        input + "/" + f);
  std::set<std::string> seen;
  int64_t n = 0;
  while (NextCsvRecord(text, &pos, &c)) {
    ++n;
    double start = 0, end = 0;
    if (c.size() != 9) {
      ++sum.skipped[f + ": wrong number of columns"];
      continue;
    }
    if (!ParseDouble(c[1], &start) || !ParseDouble(c[2], &end) || end <= start) {
      ++sum.skipped[f + ": bad start/end"];
      continue;
    }
    if (c[5].empty() || !IsValidUtf8(c[5]) || !IsValidUtf8(c[4])) {
      ++sum.skipped[f + ": empty or invalid caption"];
      continue;
    }
    const std::string id = "musiccaps_" + c[0] + "_" + c[1];
    if (!seen.insert(id).second) {
      ++sum.skipped[f + ": duplicate clip"];
      continue;
    }
    Song s;
    s.id = id;
    s.title = "MusicCaps clip " + c[0] + " at " + c[1] + " s";
    s.duration_s = end - start;
    s.tags = ParsePythonStringList(c[4]);
    s.extra = {{"ytid", c[0]},
               {"start_s", start},
               {"end_s", end},
               {"audioset_labels", Split(c[3], ',')},
               {"author_id", c[6]}};
    songs.Add(ToJson(s));
    Document d;
    d.id = "musiccaps_caption_" + c[0] + "_" + c[1];
    d.kind = "caption";
    d.song = id;
    d.text = c[5];
    docs.Add(ToJson(d));
  }
  sum.read[f] = n;
  songs.Write();
  docs.Write();
  sum.notes.push_back(
      "clips, not songs: no titles or artists; the aspect list becomes tags and the musician's "
      "caption a 'caption' document (the role of the paper's song descriptions)");
  return sum;
}

// ---- HetRec 2011 Last.fm 2K ----
ConvertSummary ConvertLastfm(const std::string& input, const std::string& out) {
  ConvertSummary sum;
  sum.dataset = "lastfm-2k";
  JsonlOut artists(out, "artists.jsonl", &sum), songs(out, "songs.jsonl", &sum),
      users(out, "users.jsonl", &sum), events(out, "events.jsonl", &sum),
      relations(out, "relations.jsonl", &sum);
  std::set<std::string> known_artists;
  {
    const std::string f = "artists.dat";
    int64_t n = 0;
    for (const auto& line : DataLines(NeedFile(input + "/" + f))) {
      ++n;
      const auto c = Split(line, '\t');
      if (c.size() < 2 || c[0].empty() || c[1].empty()) {
        ++sum.skipped[f + ": missing id or name"];
        continue;
      }
      if (!IsValidUtf8(c[1])) {
        ++sum.skipped[f + ": name is not UTF-8"];
        continue;
      }
      const std::string a = "lastfm_artist_" + c[0];
      artists.Add(
          ToJson(Artist{a, c[1], {}, "", c.size() > 2 ? json{{"lastfm_url", c[2]}} : json()}));
      // The catalog item is the artist itself: the dataset has no songs.
      Song s;
      s.id = "lastfm_" + c[0];
      s.title = c[1];
      s.artists = {a};
      s.extra = {{"item_is_artist", true}};
      songs.Add(ToJson(s));
      known_artists.insert(c[0]);
    }
    sum.read[f] = n;
  }
  std::set<std::string> user_ids;
  {
    const std::string f = "user_artists.dat";
    int64_t n = 0;
    std::vector<Event> rows;
    for (const auto& line : DataLines(NeedFile(input + "/" + f))) {
      ++n;
      const auto c = Split(line, '\t');
      double weight = 0;
      if (c.size() != 3 || !ParseDouble(c[2], &weight)) {
        ++sum.skipped[f + ": malformed row"];
        continue;
      }
      if (!known_artists.count(c[1])) {
        ++sum.skipped[f + ": unknown artist"];
        continue;
      }
      if (weight < 1) {
        ++sum.skipped[f + ": play count below 1"];
        continue;
      }
      Event e;
      e.user = "lastfm_user_" + c[0];
      e.song = "lastfm_" + c[1];
      e.feedback = Feedback::kFinish;  // listened to; the count says how often
      e.count = static_cast<int64_t>(weight);
      rows.push_back(std::move(e));
      user_ids.insert(c[0]);
    }
    sum.read[f] = n;
    for (const auto& u : user_ids) users.Add(ToJson(User{"lastfm_user_" + u, {}, json()}));
    for (const auto& e : rows) events.Add(ToJson(e));
  }
  {
    const std::string f = "user_friends.dat";
    int64_t n = 0;
    for (const auto& line : DataLines(NeedFile(input + "/" + f))) {
      ++n;
      const auto c = Split(line, '\t');
      if (c.size() != 2) {
        ++sum.skipped[f + ": malformed row"];
        continue;
      }
      if (!user_ids.count(c[0]) || !user_ids.count(c[1])) {
        ++sum.skipped[f + ": user without plays"];
        continue;
      }
      relations.Add(ToJson(
          Relation{"user", "lastfm_user_" + c[0], "friend", "user", "lastfm_user_" + c[1], 1.0}));
    }
    sum.read[f] = n;
  }
  if (FileExists(input + "/tags.dat")) {
    sum.read["tags.dat"] = static_cast<int64_t>(DataLines(ReadFile(input + "/tags.dat")).size());
    sum.notes.push_back(
        "tags.dat is not used: this copy has no artist-tag assignments (user_taggedartists*.dat)");
  }
  for (auto* o : {&artists, &songs, &users, &events, &relations}) o->Write();
  sum.notes.push_back(
      "catalog items are artists (no songs in the dataset); each (user, artist) play count is one "
      "event without ts (an unordered preference record, feedback 'finish', count = plays): "
      "sequence models cannot learn an order from them, only preferences");
  return sum;
}

// ---- music-reco-ner ----
ConvertSummary ConvertMusicReconer(const std::string& input, const std::string& out) {
  ConvertSummary sum;
  sum.dataset = "musicreconer";
  JsonlOut queries(out, "queries.jsonl", &sum);
  int found = 0;
  for (int k = 1; k <= 9; ++k) {
    const std::string dir = "data/dataset" + std::to_string(k);
    if (!FileExists(input + "/" + dir + "/queries.csv")) continue;
    ++found;
    // Annotated mentions per preprocessed query text.
    std::map<std::string, std::pair<std::vector<std::string>, std::vector<std::string>>> mentions;
    const std::string linked = dir + "/ground-truth_linked.csv";
    if (FileExists(input + "/" + linked)) {
      const std::string text = ReadFile(input + "/" + linked);
      size_t pos = 0;
      std::vector<std::string> c;
      NextCsvRecord(text, &pos, &c);  // mention,type,query,...
      int64_t n = 0;
      while (NextCsvRecord(text, &pos, &c)) {
        ++n;
        if (c.size() < 3) {
          ++sum.skipped[linked + ": malformed row"];
          continue;
        }
        auto& m = mentions[c[2]];
        if (c[1] == "Artist")
          m.first.push_back(c[0]);
        else if (c[1] == "WoA")
          m.second.push_back(c[0]);
        else
          ++sum.skipped[linked + ": unknown mention type"];
      }
      sum.read[linked] = n;
    }
    const std::string f = dir + "/queries.csv";
    const std::string text = NeedFile(input + "/" + f);
    size_t pos = 0;
    std::vector<std::string> c;
    NextCsvRecord(text, &pos, &c);  // preprocessed,original
    int64_t n = 0;
    while (NextCsvRecord(text, &pos, &c)) {
      ++n;
      if (c.size() != 2 || c[1].empty()) {
        ++sum.skipped[f + ": malformed row"];
        continue;
      }
      if (!IsValidUtf8(c[1])) {
        ++sum.skipped[f + ": not UTF-8"];
        continue;
      }
      Query q;
      q.id = "musicreconer_" + std::to_string(k) + "_" + std::to_string(n);
      q.text = c[1];
      q.source = "real";
      q.split = "test";
      q.extra = {{"dataset", k}, {"preprocessed", c[0]}};
      auto it = mentions.find(c[0]);
      q.extra["artists"] = it == mentions.end() ? std::vector<std::string>{} : it->second.first;
      q.extra["works"] = it == mentions.end() ? std::vector<std::string>{} : it->second.second;
      queries.Add(ToJson(q));
    }
    sum.read[f] = n;
  }
  if (found == 0) NeedFile(input + "/data/dataset1/queries.csv");
  queries.Write();
  sum.notes.push_back(
      "real requests as test-split queries; annotated artist and work mentions in extra.artists / "
      "extra.works (lowercase, as annotated) so evaluation can check that a named artist in the "
      "catalog is honoured; no users, states or relevance labels");
  return sum;
}

}  // namespace

bool NextCsvRecord(const std::string& text, size_t* pos, std::vector<std::string>* fields) {
  fields->clear();
  size_t i = *pos;
  if (i >= text.size()) return false;
  std::string cur;
  bool quoted = false;
  while (i < text.size()) {
    const char ch = text[i];
    if (quoted) {
      if (ch == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"')
          cur += '"', ++i;
        else
          quoted = false;
      } else {
        cur += ch;
      }
    } else if (ch == '"') {
      quoted = true;
    } else if (ch == ',') {
      fields->push_back(std::move(cur));
      cur.clear();
    } else if (ch == '\n' || ch == '\r') {
      if (ch == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      ++i;
      break;
    } else {
      cur += ch;
    }
    ++i;
  }
  fields->push_back(std::move(cur));
  *pos = i;
  return true;
}

std::vector<std::string> ParsePythonStringList(const std::string& text) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < text.size()) {
    const char q = text[i];
    if (q != '\'' && q != '"') {
      ++i;
      continue;
    }
    std::string cur;
    ++i;
    while (i < text.size() && text[i] != q) {
      if (text[i] == '\\' && i + 1 < text.size()) ++i;
      cur += text[i++];
    }
    ++i;  // the closing quote
    if (!cur.empty()) out.push_back(std::move(cur));
  }
  return out;
}

json ConvertSummary::ToJson() const {
  return {{"dataset", dataset},
          {"read", read},
          {"written", written},
          {"skipped", skipped},
          {"notes", notes}};
}

std::string ConvertSummary::Table() const {
  std::string t;
  for (const auto& [f, n] : read) t += "read    " + f + ": " + std::to_string(n) + " rows\n";
  for (const auto& [f, n] : written) t += "written " + f + ": " + std::to_string(n) + " rows\n";
  for (const auto& [r, n] : skipped) t += "skipped " + r + ": " + std::to_string(n) + " rows\n";
  if (skipped.empty()) t += "skipped: none\n";
  for (const auto& n : notes) t += "note: " + n + "\n";
  return t;
}

const std::vector<std::string>& ConvertDatasets() {
  static const std::vector<std::string> v = {"jamendo", "musiccaps", "lastfm-2k", "musicreconer"};
  return v;
}

ConvertSummary Convert(const std::string& name, const std::string& input, const std::string& out) {
  if (!fs::is_directory(input))
    throw Error("not a directory", input, "give --input the dataset's folder");
  MakeDirs(out);
  if (name == "jamendo") return ConvertJamendo(input, out);
  if (name == "musiccaps") return ConvertMusicCaps(input, out);
  if (name == "lastfm-2k") return ConvertLastfm(input, out);
  if (name == "musicreconer") return ConvertMusicReconer(input, out);
  throw Error("unknown dataset '" + name + "'", "",
              "use one of: " + JoinStrings(ConvertDatasets(), ", "));
}

}  // namespace muchator
