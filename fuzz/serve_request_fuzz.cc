// libFuzzer harness for the server's request bodies (serve/request_json.h, serve/dialogue.h,
// infer/constraint.h), without HTTP or a model: any bytes as the body of POST
// /v1/chat/completions and of POST /v1/recommend, then, for a body that parses, the dialogue
// read against a small catalog (bans, artists, ordinals, "like the third one") and the decoding
// constraints it gives, run to the end of a whole answer. A bad body may only end as a 400/404
// ApiError; the constraints must always allow a next token until the answer is done.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "infer/constraint.h"
#include "serve/dialogue.h"
#include "serve/request_json.h"
#include "text/bpe_train.h"
#include "text/item_codec.h"
#include "text/special_tokens.h"
#include "text/tokenizer.h"

namespace {

struct World {
  std::unique_ptr<muchator::Tokenizer> tok;
  muchator::Catalog catalog;
  std::unique_ptr<muchator::ItemCodec> codec;
  std::unique_ptr<muchator::AnswerGrammar> grammar;
  std::unique_ptr<muchator::CatalogLookup> lookup;
  muchator::ServeOptions options;
};

const World& Get() {
  static const World* w = [] {
    auto* x = new World;
    const char* titles[] = {"Rain on the Window", "Night Drive",   "Promoted",   "Slow Morning",
                            "Loud and Proud",     "Fading Lights", "Summer Run", "Quiet Study"};
    const char* artists[] = {"Ana Ruiz", "Marco Nakamura", "The Owls", "Ana Ruiz", "The Owls",
                             "Kai",      "Marco Nakamura", "Lena Park"};
    for (int i = 0; i < 8; ++i)
      x->catalog.items.push_back({"s" + std::to_string(i),
                                  titles[i],
                                  artists[i],
                                  {},
                                  "a" + std::string(artists[i]).substr(0, 3)});
    x->catalog.BuildIndex();
    muchator::BpeTrainOptions o;
    o.vocab_size = 500;
    o.min_frequency = 1;
    o.special_tokens = muchator::BaseSpecialTokens();
    x->tok = muchator::TrainBpe(
        [&](const auto& emit) {
          for (int k = 0; k < 10; ++k) {
            for (int i = 0; i < 8; ++i) emit(std::string(titles[i]) + " - " + artists[i]);
            emit("something for a rainy evening drive, more upbeat, not that artist 1. 2. 3.");
          }
        },
        o);
    x->codec = muchator::MakeItemCodec("title", x->catalog, *x->tok);
    x->grammar = std::make_unique<muchator::AnswerGrammar>(*x->tok, *x->codec, x->catalog, 20);
    x->lookup = std::make_unique<muchator::CatalogLookup>(x->catalog, *x->codec, *x->grammar);
    x->options.max_songs = 20;
    return x;
  }();
  return *w;
}

void Answer(const World& w, const muchator::AnswerSpec& s) {
  const muchator::Refinement ref = muchator::ReadDialogue(s.messages, *w.lookup);
  muchator::ConstraintOptions c;
  c.num_items = s.songs;
  c.allow_sentence = s.sentence;
  c.one_per_artist = s.one_per_artist;
  c.banned_items = ref.recommended;
  std::sort(c.banned_items.begin(), c.banned_items.end());
  c.banned_items.erase(std::unique(c.banned_items.begin(), c.banned_items.end()),
                       c.banned_items.end());
  c.banned_artists = ref.banned_artists;
  for (const auto& a : s.exclude_artists)
    if (const int id = w.lookup->FindArtist(a); id >= 0) c.banned_artists.push_back(id);
  c.Validate(*w.grammar);
  (void)w.grammar->MaxAnswerTokens(c);
  muchator::AnswerConstraint ac(*w.grammar, c);
  for (int step = 0; !ac.Done(); ++step) {
    const auto allowed = ac.Allowed();
    if (allowed.empty() || step > 2000) std::abort();  // a dead end or no end
    ac.Advance(allowed[static_cast<size_t>(step) % allowed.size()]);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const World& w = Get();
  const std::string body(reinterpret_cast<const char*>(data), size);
  nlohmann::json b;
  try {
    b = muchator::ParseJsonBody(body);
  } catch (const muchator::ApiError& e) {
    if (e.status != 400) std::abort();
    return 0;
  }
  for (int endpoint = 0; endpoint < 2; ++endpoint) {
    try {
      const muchator::AnswerSpec s = endpoint == 0
                                         ? muchator::ParseChatBody(b, w.options, "muchator")
                                         : muchator::ParseRecommendBody(b, w.options);
      (void)muchator::ErrorJson({400, "x", "", "", ""}).dump();
      Answer(w, s);
    } catch (const muchator::ApiError& e) {
      if (e.status != 400 && e.status != 404) std::abort();
    } catch (const muchator::Error&) {
      // a constraint the catalog cannot satisfy is refused with a clear message
    }
  }
  return 0;
}
