// Converters on the real datasets in ../shared/data (skipped when absent): first rows mapped
// value by value, whole files converted and ingested with zero quarantined rows and the counts
// of each PROVENANCE.md; plus the CSV and Python-list readers.
#include "convert/convert.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "core/error.h"
#include "core/file.h"
#include "data/ingest.h"
#include "data/store.h"

namespace muchator {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::string Data(const std::string& name) {
  const char* src = std::getenv("MUCHATOR_SOURCE_DIR");
  return std::string(src ? src : ".") + "/../shared/data/" + name;
}

class ConvertTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        (fs::temp_directory_path() / ("muchator_convert_" + std::to_string(::getpid()))).string();
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  // Rows of an output file by id (or by line number when rows have no id).
  static std::map<std::string, json> Rows(const std::string& path, const std::string& key = "id") {
    std::map<std::string, json> m;
    LineReader r(path);
    std::string line;
    int n = 0;
    while (r.Next(line)) {
      auto j = json::parse(line);
      m[j.contains(key) ? j[key].get<std::string>() : std::to_string(n)] = j;
      ++n;
    }
    return m;
  }
  // Converts, ingests strictly (any bad row fails) and returns the store's counts.
  StoreCounts ConvertAndIngest(const std::string& dataset, const std::string& input,
                               ConvertSummary* sum) {
    *sum = Convert(dataset, input, dir_ + "/out");
    IngestSummary is = Ingest({dir_ + "/out", dir_ + "/s.db", "", /*strict=*/true});
    for (const auto& f : is.files) EXPECT_EQ(f.quarantined, 0) << f.path;
    Store store(dir_ + "/s.db");
    return store.Counts();
  }
  std::string dir_;
};

TEST(CsvTest, QuotedFieldsDoubledQuotesNewlinesAndCrlf) {
  const std::string text = "a,b,c\r\n\"x, y\",\"say \"\"hi\"\"\",\"two\nlines\"\n1,,3";
  size_t pos = 0;
  std::vector<std::string> f;
  ASSERT_TRUE(NextCsvRecord(text, &pos, &f));
  EXPECT_EQ(f, (std::vector<std::string>{"a", "b", "c"}));
  ASSERT_TRUE(NextCsvRecord(text, &pos, &f));
  EXPECT_EQ(f, (std::vector<std::string>{"x, y", "say \"hi\"", "two\nlines"}));
  ASSERT_TRUE(NextCsvRecord(text, &pos, &f));
  EXPECT_EQ(f, (std::vector<std::string>{"1", "", "3"}));
  EXPECT_FALSE(NextCsvRecord(text, &pos, &f));
  EXPECT_EQ(ParsePythonStringList("['low quality', \"90's pop\", 'it\\'s']"),
            (std::vector<std::string>{"low quality", "90's pop", "it's"}));
  EXPECT_TRUE(ParsePythonStringList("[]").empty());
}

TEST_F(ConvertTest, UnknownDatasetAndMissingInputAreClearErrors) {
  EXPECT_THROW(Convert("spotify", dir_, dir_ + "/o"), Error);
  fs::create_directories(dir_ + "/empty");
  try {
    Convert("musiccaps", dir_ + "/empty", dir_ + "/o");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("musiccaps-public.csv"), std::string::npos) << e.what();
  }
}

TEST_F(ConvertTest, JamendoFromTheOriginalFilesUnitesTagsPerTrack) {
  // Without derived/track_tags_merged.tsv the original autotagging files are read and united.
  fs::create_directories(dir_ + "/jam/data/splits");
  const std::string header = "TRACK_ID\tARTIST_ID\tALBUM_ID\tPATH\tDURATION\tTAGS\n";
  WriteFileAtomic(
      dir_ + "/jam/data/autotagging_moodtheme.tsv",
      header +
          "track_0000007\tartist_000002\talbum_000003\t07/7.mp3\t60.5\tmood/theme---calm\n"
          "track_0000008\tartist_000002\talbum_000003\t08/8.mp3\tlong\tmood/theme---sad\n");
  WriteFileAtomic(dir_ + "/jam/data/splits/genre-train.tsv",
                  header +
                      "track_0000007\tartist_000002\talbum_000003\t07/"
                      "7.mp3\t60.5\tgenre---jazz\tinstrument---piano\n");
  ConvertSummary sum;
  const auto counts = ConvertAndIngest("jamendo", dir_ + "/jam", &sum);
  EXPECT_EQ(counts.songs, 1);
  EXPECT_EQ(sum.read.at("data/autotagging_moodtheme.tsv"), 2);
  EXPECT_EQ(sum.skipped.at("data/autotagging_moodtheme.tsv: bad duration"), 1);
  const auto songs = Rows(dir_ + "/out/songs.jsonl");
  EXPECT_EQ(songs.at("track_0000007")["genres"], json::array({"jazz"}));
  EXPECT_EQ(songs.at("track_0000007")["tags"], json::array({"instrument:piano", "mood:calm"}));
}

TEST_F(ConvertTest, Jamendo) {
  if (!fs::exists(Data("mtg-jamendo"))) GTEST_SKIP() << "../shared/data/mtg-jamendo is absent";
  ConvertSummary sum;
  const auto counts = ConvertAndIngest("jamendo", Data("mtg-jamendo"), &sum);
  EXPECT_EQ(counts.songs, 55525);  // PROVENANCE.md
  EXPECT_EQ(counts.artists, 3565);
  EXPECT_TRUE(sum.skipped.empty());
  const auto songs = Rows(dir_ + "/out/songs.jsonl");
  // The first data row: track_0000214 artist_000014 album_000031 14/214.mp3 124.6 genre---punkrock
  const json& s = songs.at("track_0000214");
  EXPECT_EQ(s["title"], "Jamendo track 214");
  EXPECT_EQ(s["artists"], json::array({"artist_000014"}));
  EXPECT_EQ(s["album"], "Jamendo album 31");
  EXPECT_DOUBLE_EQ(s["duration_s"].get<double>(), 124.6);
  EXPECT_EQ(s["genres"], json::array({"punkrock"}));
  EXPECT_EQ(s["extra"]["jamendo_path"], "14/214.mp3");
  // A row with several genres, and tags of all three kinds are mapped.
  EXPECT_EQ(songs.at("track_0000851")["genres"], json::array({"disco", "funk", "pop", "rnb"}));
  std::set<std::string> tags;
  for (const auto& [id, row] : songs)
    if (row.contains("tags"))
      for (const auto& t : row["tags"])
        tags.insert(t.get<std::string>().substr(0, t.get<std::string>().find(':')));
  EXPECT_EQ(tags, (std::set<std::string>{"instrument", "mood"}));
  EXPECT_EQ(Rows(dir_ + "/out/artists.jsonl").at("artist_000014")["name"], "Jamendo artist 14");
}

TEST_F(ConvertTest, MusicCaps) {
  if (!fs::exists(Data("musiccaps"))) GTEST_SKIP() << "../shared/data/musiccaps is absent";
  ConvertSummary sum;
  const auto counts = ConvertAndIngest("musiccaps", Data("musiccaps"), &sum);
  EXPECT_EQ(counts.songs, 5521);
  EXPECT_EQ(counts.documents, 5521);
  const auto songs = Rows(dir_ + "/out/songs.jsonl");
  const json& s = songs.at("musiccaps_-0Gj8-vB1q4_30");
  EXPECT_EQ(s["tags"], json::array({"low quality", "sustained strings melody", "soft female vocal",
                                    "mellow piano melody", "sad", "soulful", "ballad"}));
  EXPECT_DOUBLE_EQ(s["duration_s"].get<double>(), 10.0);
  EXPECT_EQ(s["extra"]["audioset_labels"], json::array({"/m/0140xf", "/m/02cjck", "/m/04rlf"}));
  const auto docs = Rows(dir_ + "/out/documents.jsonl");
  const json& d = docs.at("musiccaps_caption_-0Gj8-vB1q4_30");
  EXPECT_EQ(d["kind"], "caption");
  EXPECT_EQ(d["song"], "musiccaps_-0Gj8-vB1q4_30");
  EXPECT_EQ(
      d["text"].get<std::string>().rfind("The low quality recording features a ballad song", 0),
      0u);
}

TEST_F(ConvertTest, LastfmArtistsAsItemsAndPlayCountsAsUnorderedRecords) {
  if (!fs::exists(Data("hetrec2011-lastfm-2k")))
    GTEST_SKIP() << "../shared/data/hetrec2011-lastfm-2k is absent";
  ConvertSummary sum;
  const auto counts = ConvertAndIngest("lastfm-2k", Data("hetrec2011-lastfm-2k"), &sum);
  EXPECT_EQ(counts.artists, 17632);
  EXPECT_EQ(counts.songs, 17632);
  EXPECT_EQ(counts.users, 1892);
  EXPECT_EQ(counts.events, 92834);
  EXPECT_EQ(counts.relations, 25434);
  EXPECT_EQ(Rows(dir_ + "/out/artists.jsonl").at("lastfm_artist_1")["name"], "MALICE MIZER");
  EXPECT_EQ(Rows(dir_ + "/out/songs.jsonl").at("lastfm_1")["artists"],
            json::array({"lastfm_artist_1"}));
  // First play-count row: user 2, artist 51, 13883 plays; no timestamp.
  Store store(dir_ + "/s.db");
  bool found = false;
  for (const Event& e : store.UserTimeline("lastfm_user_2"))
    if (e.song == "lastfm_51") {
      found = true;
      EXPECT_EQ(e.count, 13883);
      EXPECT_EQ(e.ts, kNoTimestamp);
      EXPECT_EQ(e.feedback, Feedback::kFinish);
    }
  EXPECT_TRUE(found);
}

TEST_F(ConvertTest, MusicReconerQueriesKeepTheirMentions) {
  if (!fs::exists(Data("music-reco-ner")))
    GTEST_SKIP() << "../shared/data/music-reco-ner is absent";
  ConvertSummary sum;
  const auto counts = ConvertAndIngest("musicreconer", Data("music-reco-ner"), &sum);
  EXPECT_EQ(counts.queries, 2551);
  const auto queries = Rows(dir_ + "/out/queries.jsonl");
  // dataset4's first query: "Drake - Nonstop I really like" with artist "drake" and work "nonstop".
  const json& q = queries.at("musicreconer_4_1");
  EXPECT_EQ(q["text"], "Drake - Nonstop I really like");
  EXPECT_EQ(q["source"], "real");
  EXPECT_EQ(q["extra"]["artists"], json::array({"drake"}));
  EXPECT_EQ(q["extra"]["works"], json::array({"nonstop"}));
  // Extra survives the store.
  Store store(dir_ + "/s.db");
  int with_artist = 0;
  store.ForEachQuery([&](const Query& x) { with_artist += !x.extra["artists"].empty(); });
  EXPECT_GT(with_artist, 500);
}

}  // namespace
}  // namespace muchator
