#include "data/validate.h"

#include <gtest/gtest.h>

namespace muchator {

using nlohmann::json;

template <class T>
Status Parse(const std::string& text, T* out) {
  return ParseRow(json::parse(text), out);
}

template <class T>
void ExpectRoundTrip(const T& original) {
  T back;
  const json j = ToJson(original);
  Status s = ParseRow(j, &back);
  ASSERT_TRUE(s.ok()) << s.message() << " in " << j.dump();
  EXPECT_EQ(back, original) << j.dump();
}

TEST(RoundTripTest, EveryEntity) {
  ExpectRoundTrip(Artist{"a1", "Lin Bo", {"pop", "folk"}, "CN", json{{"label", "X"}}});
  ExpectRoundTrip(Song{"s1",
                       "Rain on the Roof (Live)",
                       {"a1", "a2"},
                       "Weather",
                       {"pop"},
                       {"calm", "rainy day"},
                       "zh",
                       1999,
                       241.5,
                       "line one\nline two",
                       12.5,
                       {}});
  ExpectRoundTrip(User{"u1", {{"age_bucket", "25-34"}, {"region", "north"}}, {}});
  Event e{
      "",   "u1", "s1", 1700000000, {"evening", "weekday", "commute", "phone", 18}, Feedback::kSkip,
      12.0, 1};
  ExpectRoundTrip(e);
  Event unordered{"e9", "u1", "s2", kNoTimestamp, {}, Feedback::kFinish, -1, 37};
  ExpectRoundTrip(unordered);
  ExpectRoundTrip(
      Comment{"c1", "s1", "u1", "professional", "A calm song for rainy days.", 1700000000, 3});
  ExpectRoundTrip(Playlist{"p1", "late night drive", "for the road", "u1", {"s1", "s2"}});
  ExpectRoundTrip(Document{"d1", "artist_bio", "", "a1", "Lin Bo", "Lin Bo is a singer."});
  ExpectRoundTrip(Relation{"song", "s1", "co_listen", "song", "s2", 0.25});
  ExpectRoundTrip(Query{"q1",
                        "something for a rainy evening drive",
                        "u1",
                        1700000000,
                        {"evening", "weekend", "car", "", -1},
                        {"s1"},
                        "test",
                        "generated",
                        {}});
}

TEST(ValidateTest, MissingRequiredField) {
  Song s;
  Status st = Parse(R"({"id":"s1","artists":["a1"]})", &s);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message(), "missing required field 'title'");
}

TEST(ValidateTest, WrongTypeNamesFieldAndValue) {
  Song s;
  Status st = Parse(R"({"id":"s1","title":"t","artists":["a1"],"year":"1990s"})", &s);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("field 'year': expected an integer, got \"1990s\""),
            std::string::npos)
      << st.message();
}

TEST(ValidateTest, OutOfRangeYear) {
  Song s;
  EXPECT_FALSE(Parse(R"({"id":"s1","title":"t","artists":[],"year":3999})", &s).ok());
  EXPECT_TRUE(Parse(R"({"id":"s1","title":"t","artists":[],"year":1999})", &s).ok());
}

TEST(ValidateTest, UnknownFieldIsRejectedExtraIsAccepted) {
  Song s;
  Status st = Parse(R"({"id":"s1","titel":"t","title":"t","artists":[]})", &s);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("unknown field 'titel'"), std::string::npos);
  EXPECT_TRUE(Parse(R"({"id":"s1","title":"t","artists":[],"extra":{"isrc":"X"}})", &s).ok());
  EXPECT_EQ(s.extra["isrc"], "X");
}

TEST(ValidateTest, FeedbackEnum) {
  Event e;
  Status st = Parse(R"({"user":"u","song":"s","feedback":"love"})", &e);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("'love' is not one of like, finish, skip, dislike"),
            std::string::npos);
  ASSERT_TRUE(Parse(R"({"user":"u","song":"s","feedback":"dislike"})", &e).ok());
  EXPECT_EQ(e.feedback, Feedback::kDislike);
  EXPECT_EQ(e.ts, kNoTimestamp);
}

TEST(ValidateTest, StateIsCheckedAndHourFillsTimeOfDay) {
  Event e;
  EXPECT_FALSE(
      Parse(R"({"user":"u","song":"s","feedback":"like","state":{"time_of_day":"noon"}})", &e)
          .ok());
  EXPECT_FALSE(Parse(R"({"user":"u","song":"s","feedback":"like","state":{"hour":24}})", &e).ok());
  EXPECT_FALSE(Parse(R"({"user":"u","song":"s","feedback":"like","state":{"mood":"x"}})", &e).ok());
  ASSERT_TRUE(Parse(R"({"user":"u","song":"s","feedback":"like","state":{"hour":23}})", &e).ok());
  EXPECT_EQ(e.state.time_of_day, "night");
}

TEST(ValidateTest, NonObjectRowAndBadListItems) {
  Artist a;
  EXPECT_FALSE(ParseRow(json::array(), &a).ok());
  Playlist p;
  EXPECT_FALSE(Parse(R"({"id":"p","title":"t","songs":[]})", &p).ok());  // must not be empty
  EXPECT_FALSE(Parse(R"({"id":"p","title":"t","songs":["s1", 3]})", &p).ok());
  Document d;
  EXPECT_FALSE(Parse(R"({"id":"d","kind":"poem","text":"x"})", &d).ok());
  Relation r;
  EXPECT_FALSE(
      Parse(R"({"head_type":"planet","head":"x","relation":"r","tail_type":"song","tail":"s"})", &r)
          .ok());
}

TEST(Utf8Test, AcceptsValidRejectsInvalid) {
  EXPECT_TRUE(IsValidUtf8("plain ascii"));
  EXPECT_TRUE(IsValidUtf8("中文 emoji 🎵 combining é"));
  size_t bad = 0;
  EXPECT_FALSE(IsValidUtf8(std::string("ab\xff", 3), &bad));
  EXPECT_EQ(bad, 2u);
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));      // surrogate U+D800
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xe4\xb8"));          // truncated sequence
}

}  // namespace muchator
