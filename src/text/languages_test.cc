#include "text/languages.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "data/store.h"

namespace muchator {
namespace {

using Codes = std::vector<std::string>;

TEST(LanguagesTest, ParsesExclusionsAndRestrictionsInSoManyWords) {
  EXPECT_EQ(
      ParseRequestLanguages("coding all afternoon, play me something, no english songs").excluded,
      Codes{"en"});
  EXPECT_EQ(ParseRequestLanguages("Nothing in Spanish please").excluded, Codes{"es"});
  EXPECT_EQ(ParseRequestLanguages("no songs in korean or japanese").excluded, (Codes{"ko", "ja"}));
  EXPECT_EQ(ParseRequestLanguages("non-English tracks, and without French lyrics").excluded,
            (Codes{"en", "fr"}));
  EXPECT_EQ(ParseRequestLanguages("gym time, only korean songs").only, Codes{"ko"});
  EXPECT_EQ(ParseRequestLanguages("something mellow, Mandarin only").only, Codes{"zh"});
  EXPECT_EQ(ParseRequestLanguages("just french music").only, Codes{"fr"});
  // Not a constraint: a language named without a negation or restriction, a negation of
  // something else, a filler run that ends before any language.
  EXPECT_TRUE(ParseRequestLanguages("english pop for a rainy day").empty());
  EXPECT_TRUE(ParseRequestLanguages("need a soundtrack: no plans at all today").empty());
  EXPECT_TRUE(ParseRequestLanguages("nothing in pajamas, only vibes").empty());
  EXPECT_TRUE(ParseRequestLanguages("no songs by the beatles, english ok").empty());
  // Kept to and ruled out at once: ruled out.
  const RequestLanguages both = ParseRequestLanguages("only english, no english");
  EXPECT_TRUE(both.only.empty());
  EXPECT_EQ(both.excluded, Codes{"en"});
}

TEST(LanguagesTest, CodesFromNamesAndCodes) {
  EXPECT_EQ(LanguageCode("English"), "en");
  EXPECT_EQ(LanguageCode("ko"), "ko");
  EXPECT_EQ(LanguageCode("Cantonese"), "zh");
  EXPECT_EQ(LanguageCode("klingon"), "");
}

TEST(LanguagesTest, BansTheCatalogSongsTheRequestRulesOut) {
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("muchator_languages_test_" + std::to_string(::getpid()) + ".db"))
                               .string();
  {
    Store s(path, Store::Mode::kReadWrite);
    s.Begin();
    s.PutArtist(0, Artist{"a1", "Lin Bo", {}, "", {}});
    const char* langs[] = {"en", "English", "ko", "", "es"};  // s4 has no language
    for (int i = 0; i < 5; ++i)
      s.PutSong(i,
                Song{"s" + std::to_string(i),
                     "Song " + std::to_string(i),
                     {"a1"},
                     "",
                     {},
                     {},
                     langs[i],
                     2001,
                     200,
                     "",
                     1,
                     {}},
                {0});
    s.Commit();
  }
  Store store(path);
  const Catalog catalog = Catalog::FromStore(store);
  const CatalogLanguages cl(store, catalog);
  const auto idx = [&](const char* id) { return catalog.Find(id); };
  auto sorted = [](std::vector<int> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  // English by code and by name; the song without a language is never banned.
  EXPECT_EQ(cl.Banned("rainy day, no english songs"), sorted({idx("s0"), idx("s1")}));
  EXPECT_EQ(cl.Banned("only korean songs"), sorted({idx("s0"), idx("s1"), idx("s4")}));
  EXPECT_TRUE(cl.Banned("a rainy day").empty());
  // Constraints parsed once (the server's note and its bans) ban the same songs.
  EXPECT_EQ(cl.Banned(ParseRequestLanguages("only korean songs")), cl.Banned("only korean songs"));
  for (auto suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
}

}  // namespace
}  // namespace muchator
