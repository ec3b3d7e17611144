#include "world/concepts.h"

#include <gtest/gtest.h>

#include <set>

#include "world/text.h"

namespace muchator::world {

TEST(ConceptsTest, InventoryHasTheRequiredBreadth) {
  EXPECT_EQ(Genres().size(), 20u);
  EXPECT_EQ(Moods().size(), 16u);
  EXPECT_GE(Situations().size(), 30u);
  for (const auto* list : {&Genres(), &Moods(), &Situations()})
    for (const auto& c : *list) {
      EXPECT_FALSE(c.meta.empty()) << c.id;
      EXPECT_FALSE(c.social.empty()) << c.id;
      EXPECT_FALSE(c.query_train.empty()) << c.id;
      EXPECT_FALSE(c.query_test.empty()) << c.id;
    }
  for (const auto& s : Situations()) {
    for (const auto& m : s.moods)
      EXPECT_GE(FindConcept(Moods(), m), 0) << s.id << " names unknown mood " << m;
    for (const auto& g : s.genres)
      EXPECT_GE(FindConcept(Genres(), g), 0) << s.id << " names unknown genre " << g;
  }
}

TEST(ConceptsTest, QueryFormsNeverOccurInsideTrainingForms) {
  // Every meta and social form of every concept, as word-padded text.
  std::vector<std::string> training;
  std::set<std::string> query_forms;
  for (const auto* list : {&Genres(), &Moods(), &Situations()})
    for (const auto& c : *list) {
      for (const auto& f : c.meta) training.push_back(WordPadded(f));
      for (const auto& f : c.social) training.push_back(WordPadded(f));
      for (const auto& f : c.query_train)
        EXPECT_TRUE(query_forms.insert(f).second) << "duplicate form " << f;
      for (const auto& f : c.query_test)
        EXPECT_TRUE(query_forms.insert(f).second) << "duplicate form " << f;
    }
  for (const auto& q : query_forms)
    for (const auto& t : training)
      EXPECT_EQ(t.find(WordPadded(q)), std::string::npos) << q << " inside " << t;
}

TEST(ConceptsTest, WordPaddedNormalises) {
  EXPECT_EQ(WordPadded("Hello, World!"), " hello world ");
  EXPECT_EQ(WordPadded("r&b"), " r b ");
}

}  // namespace muchator::world
