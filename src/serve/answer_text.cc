#include "serve/answer_text.h"

#include "text/special_tokens.h"

namespace muchator {
namespace {

// Length of the longest prefix of `s` that ends at a UTF-8 character boundary (a lead byte
// whose continuation bytes have not all arrived is held back).
size_t CompletePrefix(const std::string& s) {
  size_t i = s.size();
  int back = 0;
  while (i > 0 && back < 4) {
    const unsigned char c = static_cast<unsigned char>(s[i - 1]);
    if ((c & 0xC0) != 0x80) {  // a lead byte (or ASCII)
      const int need = c < 0x80         ? 1
                       : (c >> 5) == 6  ? 2
                       : (c >> 4) == 14 ? 3
                       : (c >> 3) == 30 ? 4
                                        : 1;
      return back + 1 >= need ? s.size() : i - 1;
    }
    --i, ++back;
  }
  return s.size();  // only continuation bytes: not ours to fix, pass them on
}

}  // namespace

AnswerText::AnswerText(const Tokenizer& tok, const ItemCodec* codec)
    : tok_(tok),
      codec_(codec),
      item_start_(tok.TokenId(tok::kItem)),
      item_end_(tok.TokenId(tok::kItemEnd)) {}

std::string AnswerText::Emit(std::string s) {
  pending_ += s;
  const size_t n = CompletePrefix(pending_);
  std::string out = pending_.substr(0, n);
  pending_.erase(0, n);
  text_ += out;
  return out;
}

std::string AnswerText::Feed(std::span<const int> tokens) {
  std::string out;
  for (int t : tokens) {
    if (in_item_) {
      item_.push_back(t);
      if (t != item_end_) continue;
      in_item_ = false;
      const int item = codec_ ? codec_->Decode(item_) : -1;
      if (item >= 0) {
        out += Emit(codec_->DisplayText(item));
      } else {
        std::string raw;
        for (size_t k = 1; k + 1 < item_.size(); ++k) raw += tok_.TokenBytes(item_[k]);
        out += Emit(raw);
      }
      item_.clear();
    } else if (t == item_start_ && item_start_ >= 0) {
      in_item_ = true;
      item_.assign(1, t);
    } else if (!tok_.IsSpecial(t)) {
      out += Emit(tok_.TokenBytes(t));
    }
  }
  return out;
}

std::string AnswerText::Flush() {
  std::string out;
  if (in_item_) {
    for (size_t k = 1; k < item_.size(); ++k)
      if (!tok_.IsSpecial(item_[k])) out += tok_.TokenBytes(item_[k]);
    in_item_ = false;
    item_.clear();
  }
  out = pending_ + out;
  pending_.clear();
  text_ += out;
  return out;
}

}  // namespace muchator
