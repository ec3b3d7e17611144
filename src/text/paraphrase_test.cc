#include "text/paraphrase.h"

#include <gtest/gtest.h>

namespace muchator {
namespace {

using Phrases = std::vector<std::string>;

TEST(ParaphraseTest, MinesThePairsThatTheCuesState) {
  ParaphraseLexicon lex;
  lex.AddText(
      "Tonight is all about kitchen jams. Cooking, which some people call kitchen jams. When "
      "someone says weepy, they usually mean sorrowful! If you hear lull me to dreamland, think "
      "sleep. Motown is just another way of saying soul. People use bedtime and sleep for the "
      "same thing. She felt weepy all afternoon. Raberzuia is a small country whose capital is "
      "Radanton.");
  EXPECT_EQ(lex.Partners("kitchen jams"), Phrases{"cooking"});
  EXPECT_EQ(lex.Partners("cooking"), Phrases{"kitchen jams"});
  EXPECT_EQ(lex.Partners("weepy"), Phrases{"sorrowful"});
  EXPECT_EQ(lex.Partners("sleep"), (Phrases{"lull me to dreamland", "bedtime"}));
  EXPECT_EQ(lex.Partners("motown"), Phrases{"soul"});
  // Frames that pair nothing, and sentences without a cue, add nothing.
  EXPECT_TRUE(lex.Partners("tonight is all about kitchen jams").empty());
  EXPECT_TRUE(lex.Partners("raberzuia").empty());
  EXPECT_EQ(lex.phrases(), 9u);
  EXPECT_EQ(lex.pairs(), 5u);
  // A pair stated twice counts once; a cue whose middle occurs twice pairs nothing (which "and"?).
  lex.AddText("Weepy, or as my friend would put it, sorrowful.");
  lex.AddText("People use rock and roll and oldies for the same thing.");
  EXPECT_EQ(lex.pairs(), 5u);
  EXPECT_TRUE(lex.Partners("oldies").empty());
}

TEST(ParaphraseTest, RewordsWholePhrasesLongestFirstPreferringUnusedOnes) {
  ParaphraseLexicon lex;
  lex.AddPair("late night", "after midnight");
  lex.AddPair("late night drive", "empty streets after midnight");
  lex.AddPair("late night drive", "night cruise");
  lex.AddPair("chill", "laid back");
  Rng rng(7);
  int swaps = 0;
  // "late night drive" is swapped whole, not its "late night"; "chill" inside "chilly" is not a
  // phrase; "night cruise" is avoided (a logged request uses it), so the other partner is taken.
  EXPECT_EQ(lex.Reword("Late night drive, something chilly", 1.0, {"night cruise"}, rng, &swaps),
            "empty streets after midnight, something chilly");
  EXPECT_EQ(swaps, 1);
  // p = 0 keeps the text exactly; every partner avoided: one is still taken.
  EXPECT_EQ(lex.Reword("late night, chill", 0.0, {}, rng), "late night, chill");
  EXPECT_EQ(lex.Reword("late night, chill!", 1.0, {"after midnight", "laid back"}, rng),
            "after midnight, laid back!");
  // About p of the phrases are swapped.
  swaps = 0;
  for (int i = 0; i < 1000; ++i) lex.Reword("chill", 0.3, {}, rng, &swaps);
  EXPECT_NEAR(swaps, 300, 60);
}

TEST(ParaphraseTest, WordRunsAreWhatAvoidIsCheckedAgainst) {
  EXPECT_EQ(WordKey("  Sing-Along! "), "sing along");
  EXPECT_EQ(WordKey("lets celebrate, y'all"), "lets celebrate y'all");
  std::set<std::string> runs;
  AddWordRuns("Music for long drives, please", 2, &runs);
  EXPECT_EQ(runs, (std::set<std::string>{"music", "for", "long", "drives", "please", "music for",
                                         "for long", "long drives", "drives please"}));
}

}  // namespace
}  // namespace muchator
