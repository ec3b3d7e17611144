// Unit tests of the server's parts that need no HTTP: reading a dialogue into constraints,
// the streamed answer text, and the Prometheus rendering. The HTTP endpoints are tested through
// the real binary (tests/serve/*.test.mjs).
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>

#include "data/store.h"
#include "infer/checkpoint.h"
#include "serve/admission.h"
#include "serve/answer_text.h"
#include "serve/chat_stream.h"
#include "serve/dialogue.h"
#include "serve/metrics.h"
#include "serve/request_json.h"
#include "serve/server.h"
#include "support/tiny_world.h"
#include "text/chat.h"

namespace muchator {
namespace {

class ServeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    world_ = new testing::TinyWorld("serve", 3);
    ck_ = new Checkpoint(LoadCheckpoint(world_->MakeCheckpoint("ck", 1)));
    lookup_ = new CatalogLookup(ck_->catalog, *ck_->codec, *ck_->grammar);
  }
  static void TearDownTestSuite() {
    delete lookup_;
    delete ck_;
    delete world_;
  }
  static std::string Line(int k, int item) {
    return std::to_string(k) + ". " + ck_->codec->DisplayText(item) + "\n";
  }
  // Three items: the first two by one artist, the third by another.
  static std::vector<int> ThreeItems() {
    const auto& g = *ck_->grammar;
    for (int a = 0; a < g.num_artists(); ++a) {
      const auto& songs = g.ItemsOfArtist(a);
      if (songs.size() < 2) continue;
      for (int other = 0; other < ck_->codec->num_items(); ++other)
        if (g.ArtistOf(other) >= 0 && g.ArtistOf(other) != a) return {songs[0], songs[1], other};
    }
    ADD_FAILURE() << "no artist with two songs in the tiny world";
    return {};
  }
  static std::vector<DialogueMessage> Dialogue(const std::vector<int>& items,
                                               const std::string& second) {
    std::string answer = "Here you go:\n";
    for (size_t k = 0; k < items.size(); ++k) answer += Line(static_cast<int>(k + 1), items[k]);
    return {{"system", "be nice"},
            {"user", "rainy evening drive"},
            {"assistant", answer},
            {"user", second}};
  }
  static testing::TinyWorld* world_;
  static Checkpoint* ck_;
  static CatalogLookup* lookup_;
};
testing::TinyWorld* ServeTest::world_ = nullptr;
Checkpoint* ServeTest::ck_ = nullptr;
CatalogLookup* ServeTest::lookup_ = nullptr;

TEST_F(ServeTest, AnswerTextLinesNameTheirItems) {
  const auto items = ThreeItems();
  std::string text = "A sentence first\n";
  for (size_t k = 0; k < items.size(); ++k) text += Line(static_cast<int>(k + 1), items[k]);
  text += "4. Not A Song - Nobody\n";
  EXPECT_EQ(ItemsInAnswerText(text, *lookup_), items);
  // Case and punctuation do not matter (NormalizeName).
  std::string lower = ck_->codec->DisplayText(items[0]);
  std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
  EXPECT_EQ(ItemsInAnswerText("1) " + lower, *lookup_), std::vector<int>{items[0]});
}

TEST_F(ServeTest, FirstTurnOnlyAsksTheQuery) {
  const Refinement r = ReadDialogue({{"user", "  rainy evening drive "}}, *lookup_);
  EXPECT_EQ(r.query, "rainy evening drive");
  EXPECT_TRUE(r.recommended.empty());
  EXPECT_TRUE(r.banned_artists.empty());
  EXPECT_TRUE(r.liked.empty());
}

TEST_F(ServeTest, EarlierAnswersAreBannedAndTheQueryKeepsTheFirstRequest) {
  const auto items = ThreeItems();
  const Refinement r = ReadDialogue(Dialogue(items, "more upbeat"), *lookup_);
  EXPECT_EQ(r.query, "rainy evening drive; more upbeat");
  EXPECT_EQ(r.recommended, items);
  EXPECT_EQ(r.last_answer, items);
  EXPECT_TRUE(r.banned_artists.empty());
  EXPECT_TRUE(r.liked.empty());
}

TEST_F(ServeTest, ThatArtistIsTheOneListedMost) {
  const auto items = ThreeItems();
  const auto& g = *ck_->grammar;
  const Refinement r = ReadDialogue(Dialogue(items, "no more of that artist please"), *lookup_);
  EXPECT_EQ(r.banned_artists, std::vector<int>{g.ArtistOf(items[0])});
}

TEST_F(ServeTest, AnOrdinalNamesWhichArtist) {
  const auto items = ThreeItems();
  const auto& g = *ck_->grammar;
  for (const std::string msg : {"not the artist of the third one", "skip the artist of #3",
                                "no more from the singer of song 3"}) {
    const Refinement r = ReadDialogue(Dialogue(items, msg), *lookup_);
    EXPECT_EQ(r.banned_artists, std::vector<int>{g.ArtistOf(items[2])}) << msg;
  }
}

TEST_F(ServeTest, AnArtistNamedWithANegationIsBanned) {
  const auto items = ThreeItems();
  const auto& g = *ck_->grammar;
  const std::string name = ck_->catalog.items[items[2]].artist;
  ASSERT_GE(name.size(), 3u);
  Refinement r = ReadDialogue(Dialogue(items, "Nothing by " + name + ", thanks"), *lookup_);
  EXPECT_EQ(r.banned_artists, std::vector<int>{g.ArtistOf(items[2])});
  // Named without a negation: not banned.
  r = ReadDialogue(Dialogue(items, "I love " + name), *lookup_);
  EXPECT_TRUE(r.banned_artists.empty());
}

TEST_F(ServeTest, LikeTheThirdOneAddsItAsALike) {
  const auto items = ThreeItems();
  Refinement r = ReadDialogue(Dialogue(items, "something like the third one"), *lookup_);
  EXPECT_EQ(r.liked, std::vector<int>{items[2]});
  EXPECT_TRUE(r.banned_artists.empty());
  // A positive clause and a negative one in the same turn.
  r = ReadDialogue(Dialogue(items, "more like #2, but not that artist"), *lookup_);
  EXPECT_EQ(r.liked, std::vector<int>{items[1]});
  EXPECT_EQ(r.banned_artists, std::vector<int>{ck_->grammar->ArtistOf(items[0])});
  // An ordinal past the end of the last answer names nothing.
  r = ReadDialogue(Dialogue(items, "something like the ninth one"), *lookup_);
  EXPECT_TRUE(r.liked.empty());
}

TEST_F(ServeTest, StreamedTextEqualsTheWholeAnswerAndStaysValidUtf8) {
  const auto items = ThreeItems();
  const std::string sentence = "Caf\xC3\xA9 vibes \xE2\x98\x95 for you";
  const TokenSeq answer = RenderAnswer(*ck_->tok, *ck_->codec, items, sentence);
  AnswerText stream(*ck_->tok, ck_->codec.get());
  std::string pieces;
  for (int t : answer.ids) {
    const std::string piece = stream.Feed(std::span<const int>(&t, 1));
    // Every piece ends at a character boundary: no lead byte without its continuation bytes.
    if (!piece.empty()) {
      const unsigned char last = static_cast<unsigned char>(piece.back());
      EXPECT_TRUE(last < 0x80 || (last & 0xC0) == 0x80) << "piece ends inside a character";
    }
    pieces += piece;
  }
  pieces += stream.Flush();
  std::string want = sentence + "\n";
  for (size_t k = 0; k < items.size(); ++k) want += Line(static_cast<int>(k + 1), items[k]);
  EXPECT_EQ(pieces, want);
  EXPECT_EQ(stream.text(), want);
}

// The request bodies, read without HTTP: each mistake is a 400 (404 for another model) that names
// the field, and a good body gives what it asked for.
ApiError ErrorOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const ApiError& e) {
    return e;
  }
  return {0, "no error", "", "", ""};
}

TEST(RequestJsonTest, ChatBodyErrorsNameTheField) {
  ServeOptions o;
  const auto chat = [&](const std::string& body) {
    return [&, body] { (void)ParseChatBody(ParseJsonBody(body), o, "m"); };
  };
  EXPECT_EQ(ErrorOf([] { (void)ParseJsonBody(""); }).code, "invalid_json");
  EXPECT_EQ(ErrorOf([] { (void)ParseJsonBody("{\"a\":"); }).code, "invalid_json");
  // Found by fuzz/serve_request_fuzz.cc: a number too large for a double escaped as a 500.
  EXPECT_EQ(ErrorOf([] { (void)ParseJsonBody("{\"n\": 1E99999}"); }).status, 400);
  EXPECT_EQ(ErrorOf(chat(R"({"messages":[]})")).param, "model");
  const ApiError other =
      ErrorOf(chat(R"({"model":"x","messages":[{"role":"user","content":"a"}]})"));
  EXPECT_EQ(other.status, 404);
  EXPECT_EQ(other.code, "model_not_found");
  EXPECT_EQ(ErrorOf(chat(R"({"model":"m","messages":[]})")).param, "messages");
  EXPECT_EQ(ErrorOf(chat(R"({"model":"m","messages":[{"role":"bot","content":"a"}]})")).param,
            "messages[0].role");
  EXPECT_EQ(
      ErrorOf(chat(R"({"model":"m","messages":[{"role":"user","content":[{"type":"image"}]}]})"))
          .param,
      "messages[0].content");
  EXPECT_EQ(
      ErrorOf(chat(R"({"model":"m","messages":[{"role":"user","content":"a"}],"max_tokens":-5})"))
          .param,
      "max_tokens");
  EXPECT_EQ(
      ErrorOf(
          chat(
              R"({"model":"m","messages":[{"role":"user","content":"a"}],"muchator":{"songs":"10"}})"))
          .param,
      "muchator.songs");
  EXPECT_EQ(
      ErrorOf(
          chat(
              R"({"model":"m","messages":[{"role":"user","content":"a"}],"muchator":{"state":{"hour":24}}})"))
          .param,
      "muchator.state.hour");
  EXPECT_EQ(
      ErrorOf(
          chat(
              R"({"model":"m","messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"}]})"))
          .status,
      400);  // the last message must be the listener's
}

TEST(RequestJsonTest, GoodBodiesGiveWhatTheyAsk) {
  ServeOptions o;
  const AnswerSpec c = ParseChatBody(
      ParseJsonBody(R"({"model":"m","user":"u1","n":2,"temperature":0.5,"seed":7,"stream":true,
        "messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"rainy "},{"type":"text","text":"drive"}]}],
        "muchator":{"songs":5,"one_per_artist":true,"state":"evening, weekday, commute, car","exclude_artists":["a1"]}})"),
      o, "m");
  EXPECT_EQ(c.user, "u1");
  EXPECT_EQ(c.n, 2);
  EXPECT_EQ(c.seed, 7u);
  EXPECT_TRUE(c.stream);
  EXPECT_DOUBLE_EQ(c.temperature, 0.5);
  ASSERT_EQ(c.messages.size(), 2u);
  EXPECT_EQ(c.messages[1].content, "rainy drive");
  EXPECT_EQ(c.songs, 5);
  EXPECT_TRUE(c.one_per_artist);
  EXPECT_EQ(c.state.context, "commute");
  EXPECT_EQ(c.exclude_artists, std::vector<std::string>{"a1"});
  const AnswerSpec r = ParseRecommendBody(
      ParseJsonBody(R"({"query":"hype me up","songs":3,"state":{"hour":7,"context":"gym"}})"), o);
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].content, "hype me up");
  EXPECT_EQ(r.songs, 3);
  EXPECT_EQ(r.state.hour, 7);
  EXPECT_EQ(r.state.context, "gym");
  EXPECT_EQ(ErrorOf([&] { (void)ParseRecommendBody(ParseJsonBody(R"({"query":"  "})"), o); }).param,
            "query");
  EXPECT_EQ(ErrorOf([&] {
              (void)ParseRecommendBody(ParseJsonBody(R"({"query":"a","songs":1000})"), o);
            }).param,
            "songs");
}

TEST(RequestJsonTest, FeedbackBodiesNameTheFieldThatIsWrong) {
  const auto f = ParseFeedbackBody(ParseJsonBody(
      R"({"song":"s1","feedback":"skip","user":"u1","state":"evening","play_s":12.5})"));
  EXPECT_EQ(f.song, "s1");
  EXPECT_EQ(f.feedback, Feedback::kSkip);
  EXPECT_EQ(f.user.value_or(""), "u1");
  ASSERT_TRUE(f.state.has_value());
  EXPECT_EQ(f.state->time_of_day, "evening");
  EXPECT_DOUBLE_EQ(f.play_s.value_or(0), 12.5);
  const auto minimal =
      ParseFeedbackBody(ParseJsonBody(R"({"song":"s1","feedback":"like","completion_id":"c"})"));
  EXPECT_FALSE(minimal.user || minimal.state || minimal.play_s);
  EXPECT_EQ(minimal.completion_id.value_or(""), "c");
  auto param = [](const char* body) {
    try {
      (void)ParseFeedbackBody(ParseJsonBody(body));
    } catch (const ApiError& e) {
      return e.param;
    }
    return std::string("(accepted)");
  };
  EXPECT_EQ(param(R"({"feedback":"like"})"), "song");
  EXPECT_EQ(param(R"({"song":"s1"})"), "feedback");
  EXPECT_EQ(param(R"({"song":"s1","feedback":"love"})"), "feedback");
  EXPECT_EQ(param(R"({"song":"s1","feedback":"like","play_s":-1})"), "play_s");
  EXPECT_EQ(param(R"({"song":1,"feedback":"like"})"), "song");
  EXPECT_EQ(param(R"([1])"), "");
}

TEST(ServeSecurityTest, ApiKeyMatchesOnlyAWholeKey) {
  const std::vector<std::string> keys = {"k-one", "sk-longer-key"};
  EXPECT_TRUE(ApiKeyMatches("k-one", keys));
  EXPECT_TRUE(ApiKeyMatches("sk-longer-key", keys));
  for (const char* wrong :
       {"", "k-on", "k-one ", "k-onf", "K-ONE", "sk-longer-kez", "sk-longer-key-and-more"})
    EXPECT_FALSE(ApiKeyMatches(wrong, keys)) << wrong;
  EXPECT_FALSE(ApiKeyMatches("k-one", {}));
  EXPECT_FALSE(ApiKeyMatches("", {""}));  // an empty key in the list admits nobody
  EXPECT_TRUE(ApiKeyMatches(std::string("a\0b", 3), {std::string("a\0b", 3)}));
  EXPECT_FALSE(ApiKeyMatches("a", {std::string("a\0", 2)}));
}

TEST(ServeSecurityTest, AdmissionChecksTheKeyThenBothBuckets) {
  using namespace std::chrono_literals;
  const auto t0 = Admission::Clock::now();
  // Keys: none, a wrong one, a right one (the key's bucket: 2 per minute).
  Admission keyed({"k-one"}, 2, 0);
  EXPECT_EQ(keyed.Admit("", "1.2.3.4", t0).error.status, 401);
  EXPECT_NE(keyed.Admit("", "1.2.3.4", t0).error.message.find("Authorization: Bearer"),
            std::string::npos);
  EXPECT_EQ(keyed.Admit("Bearer k-two", "1.2.3.4", t0).error.status, 401);
  EXPECT_EQ(keyed.Admit("k-one", "1.2.3.4", t0).error.status, 401);  // no "Bearer "
  EXPECT_TRUE(keyed.Admit("Bearer k-one ", "1.2.3.4", t0).admitted);
  EXPECT_TRUE(
      keyed.Admit("Bearer k-one", "5.6.7.8", t0).admitted);  // the key's bucket, any address
  const auto refused = keyed.Admit("Bearer k-one", "1.2.3.4", t0);
  EXPECT_FALSE(refused.admitted);
  EXPECT_EQ(refused.error.status, 429);
  EXPECT_EQ(refused.retry_after_s, 30);  // one token every 30 s
  EXPECT_NE(refused.error.message.find("per API key"), std::string::npos) << refused.error.message;
  EXPECT_FALSE(keyed.Admit("Bearer k-one", "1.2.3.4", t0 + 29s).admitted);
  EXPECT_TRUE(keyed.Admit("Bearer k-one", "1.2.3.4", t0 + 31s).admitted);
  // Without keys the address is the caller; a second, per-address limit holds for everyone.
  Admission open({}, 0, 1);
  EXPECT_TRUE(open.Admit("", "1.2.3.4", t0).admitted);
  EXPECT_TRUE(open.Admit("", "5.6.7.8", t0).admitted);
  const auto again = open.Admit("Bearer anything", "1.2.3.4", t0 + 10s);
  EXPECT_EQ(again.error.status, 429);
  EXPECT_EQ(again.retry_after_s, 50);
  EXPECT_NE(again.error.message.find("per client address"), std::string::npos);
  // A refused request takes no token: the key's bucket still has one after the address refused.
  Admission both({"k"}, 1, 1);
  EXPECT_TRUE(both.Admit("Bearer k", "a", t0).admitted);
  EXPECT_FALSE(both.Admit("Bearer k", "a", t0 + 1s).admitted);
  Admission unlimited({}, 0, 0);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(unlimited.Admit("", "a", t0).admitted);
}

// The stream's events parse as OpenAI's chat.completion.chunk objects, one line of text per event.
TEST(ChatStreamTest, EventsAreOpenAiChunksAndEndWithDone) {
  const ChatStream events("chatcmpl-1", "muchator-sft", 1700000000);
  auto datas = [](const std::string& text) {
    std::vector<nlohmann::json> out;
    for (size_t b = 0; (b = text.find("data: ", b)) != std::string::npos;) {
      const size_t e = text.find("\n\n", b);
      const std::string body = text.substr(b + 6, e - b - 6);
      out.push_back(body == "[DONE]" ? nlohmann::json("[DONE]") : nlohmann::json::parse(body));
      b = e;
    }
    return out;
  };
  const auto open = datas(events.Open(2));
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0]["object"], "chat.completion.chunk");
  EXPECT_EQ(open[0]["id"], "chatcmpl-1");
  EXPECT_EQ(open[0]["model"], "muchator-sft");
  ASSERT_EQ(open[0]["choices"].size(), 2u);
  EXPECT_EQ(open[0]["choices"][1]["delta"]["role"], "assistant");
  const auto text = datas(events.Text(1, "Rainy songs:\n1. A - B\n2. C"));
  ASSERT_EQ(text.size(), 3u);
  EXPECT_EQ(text[0]["choices"][0]["delta"]["content"], "Rainy songs:\n");
  EXPECT_EQ(text[2]["choices"][0]["delta"]["content"], "2. C");
  EXPECT_EQ(text[2]["choices"][0]["index"], 1);
  EXPECT_TRUE(datas(events.Text(0, "")).empty());
  const auto fin = datas(
      events.Finish(0, "length", nlohmann::json::array({{{"id", "s1"}}}), nlohmann::json::array()));
  ASSERT_EQ(fin.size(), 1u);
  EXPECT_EQ(fin[0]["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(fin[0]["choices"][0]["muchator"]["items"][0]["id"], "s1");
  EXPECT_TRUE(fin[0]["choices"][0]["delta"].empty());
  const auto usage = datas(events.Usage({{"total_tokens", 7}}, 1700000001));
  EXPECT_TRUE(usage[0]["choices"].empty());
  EXPECT_EQ(usage[0]["usage"]["total_tokens"], 7);
  EXPECT_EQ(usage[0]["created"], 1700000001);
  const std::string end = ChatStream::End({{"query", "rain"}});
  EXPECT_EQ(end.rfind(": muchator {", 0), 0u) << end;
  EXPECT_EQ(datas(end).back(), "[DONE]");
  const auto fail =
      datas(ChatStream::Fail(BadRequest("too long", "messages", "context_length_exceeded")));
  ASSERT_EQ(fail.size(), 2u);
  EXPECT_EQ(fail[0]["error"]["code"], "context_length_exceeded");
  EXPECT_EQ(fail[1], "[DONE]");
  // Invalid UTF-8 in a song title is replaced, never a throw mid-stream.
  EXPECT_NO_THROW((void)events.Text(0, std::string("bad \xff byte")));
}

TEST(ServeSecurityTest, SafeDefaults) {
  const ServeOptions o;
  EXPECT_EQ(o.host, "127.0.0.1");  // this machine only
  EXPECT_TRUE(o.api_keys.empty());
  EXPECT_TRUE(o.cors_origins.empty());  // no Access-Control-* header
  EXPECT_GT(o.max_body_bytes, 0);
  EXPECT_LE(o.max_body_bytes, 16 << 20);
  EXPECT_GE(o.read_timeout_s, 1);
  EXPECT_LE(o.read_timeout_s, 30);
}

TEST(MetricsTest, HistogramBucketsAreCumulative) {
  Histogram h({0.1, 1});
  h.Observe(0.05);
  h.Observe(0.5);
  h.Observe(5);
  const std::string s = h.Render("x", "help");
  EXPECT_NE(s.find("x_bucket{le=\"0.1\"} 1\n"), std::string::npos) << s;
  EXPECT_NE(s.find("x_bucket{le=\"1\"} 2\n"), std::string::npos) << s;
  EXPECT_NE(s.find("x_bucket{le=\"+Inf\"} 3\n"), std::string::npos) << s;
  EXPECT_NE(s.find("x_count 3\n"), std::string::npos) << s;
  ServerMetrics m;
  m.Request("chat", 200);
  m.Request("chat", 400);
  const std::string r = m.Render(0, 0);
  EXPECT_NE(r.find("muchator_requests_total{endpoint=\"chat\",code=\"400\"} 1"), std::string::npos);
  EXPECT_NE(r.find("muchator_errors_total 1"), std::string::npos);
}

}  // namespace
}  // namespace muchator
