// libFuzzer harness for the tokenizer (text/tokenizer.h). The first byte picks the target:
//   even: encode the rest with a small byte-level BPE trained at start-up, check that every id is
//         in the vocabulary and that decoding gives the text back (valid UTF-8 without special
//         token markers), then decode the rest read as token ids;
//   odd:  load the rest as a tokenizer.json (Tokenizer::LoadHf) and, when it loads, encode and
//         decode a fixed text with it.
// Bad input may only end as muchator::Error (a clear message), never as a crash or another
// exception.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/validate.h"
#include "scratch_file.h"
#include "text/bpe_train.h"
#include "text/special_tokens.h"
#include "text/tokenizer.h"

namespace {

const muchator::Tokenizer& Trained() {
  static const std::unique_ptr<muchator::Tokenizer> tok = [] {
    const std::vector<std::string> texts = {
        "Songs for a rainy evening drive, calm and slow.",
        "just got promoted, hype me up with something loud",
        "Lantern of Echos - Marco Nakamura, indie from Maravel, sung in Japanese 2007",
        "\u00e9t\u00e9 \u00e0 Paris, \u65e5\u672c\u8a9e\u306e\u6b4c, \xf0\x9f\x8e\xb5 music",
    };
    muchator::BpeTrainOptions o;
    o.vocab_size = 400;
    o.min_frequency = 1;
    o.nfc = false;  // no normaliser: decoding must give back exactly what was encoded
    o.special_tokens = muchator::BaseSpecialTokens();
    return muchator::TrainBpe(
        [&](const auto& emit) {
          for (int k = 0; k < 20; ++k)
            for (const auto& t : texts) emit(t);
        },
        o);
  }();
  return *tok;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if ((data[0] & 1) == 0) {
    const muchator::Tokenizer& tok = Trained();
    const std::vector<int> ids = tok.Encode(rest);
    for (int id : ids)
      if (id < 0 || id >= tok.vocab_size()) std::abort();
    if (muchator::IsValidUtf8(rest) && rest.find("<|") == std::string::npos &&
        tok.Decode(ids) != rest)
      std::abort();  // byte-level BPE without normalisation must round-trip
    std::vector<int> raw((size - 1) / 2);
    for (size_t k = 0; k < raw.size(); ++k) raw[k] = data[1 + 2 * k] | (data[2 + 2 * k] << 8);
    try {
      (void)tok.Decode(raw);
    } catch (const muchator::Error&) {
    }
    return 0;
  }
  static const muchator::fuzz::ScratchFile file("tokenizer_fuzz", ".json");
  const std::string& path = file.Write(rest.data(), rest.size());
  try {
    auto tok = muchator::Tokenizer::LoadHf(path);
    const std::vector<int> ids = tok->Encode("something for a rainy evening drive \xe2\x98\x94");
    for (int id : ids)
      if (id < 0 || id >= tok->vocab_size()) std::abort();
    (void)tok->Decode(ids);
  } catch (const muchator::Error&) {
  }
  return 0;
}
