// The special tokens of MuChator's formats: ChatML roles and turn ends, the user-context block's
// fields, situational states and feedback. Item-codec tokens are added by the codecs.
#pragma once

#include <string>
#include <vector>

namespace muchator {

namespace tok {
inline constexpr const char* kEndOfText = "<|endoftext|>";
inline constexpr const char* kImStart = "<|im_start|>";
inline constexpr const char* kImEnd = "<|im_end|>";
inline constexpr const char* kProfile = "<|profile|>";
inline constexpr const char* kState = "<|state|>";
inline constexpr const char* kHistory = "<|history|>";
inline constexpr const char* kQuery = "<|query|>";
inline constexpr const char* kItem = "<|item|>";
inline constexpr const char* kItemEnd = "<|/item|>";
inline constexpr const char* kLike = "<|like|>";
inline constexpr const char* kFinish = "<|finish|>";
inline constexpr const char* kSkip = "<|skip|>";
inline constexpr const char* kDislike = "<|dislike|>";
}  // namespace tok

// All of the above, in a fixed order (the order they get ids in a trained tokenizer).
const std::vector<std::string>& BaseSpecialTokens();

// The feedback token for a feedback index (Feedback enum order: like, finish, skip, dislike).
const char* FeedbackToken(int feedback);

}  // namespace muchator
