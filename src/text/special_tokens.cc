#include "text/special_tokens.h"

namespace muchator {

const std::vector<std::string>& BaseSpecialTokens() {
  static const std::vector<std::string> v = {
      tok::kEndOfText, tok::kImStart, tok::kImEnd,  tok::kProfile, tok::kState,
      tok::kHistory,   tok::kQuery,   tok::kItem,   tok::kItemEnd, tok::kLike,
      tok::kFinish,    tok::kSkip,    tok::kDislike};
  return v;
}

const char* FeedbackToken(int feedback) {
  static const char* kTokens[] = {tok::kLike, tok::kFinish, tok::kSkip, tok::kDislike};
  return kTokens[feedback];
}

}  // namespace muchator
