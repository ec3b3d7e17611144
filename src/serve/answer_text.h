// The text a listener sees of an answer, built token by token so a stream and the final
// message are the same text: plain tokens as their UTF-8 (cut only at character boundaries),
// each <|item|> ... <|/item|> span as the item's "Title - Artist" (or its raw text when it names
// no catalog song: unconstrained decoding), special tokens such as <|im_end|> dropped.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "text/item_codec.h"
#include "text/tokenizer.h"

namespace muchator {

class AnswerText {
 public:
  AnswerText(const Tokenizer& tok, const ItemCodec* codec);
  // Appends tokens; returns the text they complete (may be empty).
  std::string Feed(std::span<const int> tokens);
  // Whatever is still held back at the end (an unfinished item or UTF-8 sequence), as text.
  std::string Flush();
  const std::string& text() const { return text_; }  // everything returned so far

 private:
  std::string Emit(std::string s);
  const Tokenizer& tok_;
  const ItemCodec* codec_;
  int item_start_, item_end_;
  bool in_item_ = false;
  std::vector<int> item_;  // tokens of the item being read, <|item|> included
  std::string pending_;    // bytes of an incomplete UTF-8 character
  std::string text_;
};

}  // namespace muchator
