#define PCRE2_CODE_UNIT_WIDTH 8
#include "text/regex.h"

#include <pcre2.h>

#include "core/error.h"

namespace muchator {

struct Regex::Impl {
  pcre2_code* code = nullptr;
  ~Impl() { pcre2_code_free(code); }
};

Regex::Regex(const std::string& pattern) : pattern_(pattern), impl_(std::make_unique<Impl>()) {
  int err = 0;
  PCRE2_SIZE offset = 0;
  // PCRE2_MATCH_INVALID_UTF: a subject need not be valid UTF-8 (`muchator tokenize` reads raw
  // stdin); an invalid sequence matches no pattern item and becomes a gap, while valid text splits
  // exactly as before. Matching invalid UTF-8 with PCRE2_NO_UTF_CHECK alone is undefined: it
  // crashed the JIT on "\xff\xff" (fuzz/tokenizer_fuzz.cc). The pattern (from a tokenizer.json)
  // is checked too.
  impl_->code =
      pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                    PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &err, &offset, nullptr);
  if (!impl_->code) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof msg);
    throw Error("invalid pre-tokenizer regex at offset " + std::to_string(offset) + ": " +
                    reinterpret_cast<const char*>(msg),
                "", "check the pattern in tokenizer.json");
  }
  pcre2_jit_compile(impl_->code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter on failure
}

Regex::~Regex() = default;

void Regex::Split(std::string_view text, const std::function<void(std::string_view)>& fn) const {
  pcre2_match_data* md = pcre2_match_data_create_from_pattern(impl_->code, nullptr);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t pos = 0;
  while (pos < text.size()) {
    const int rc = pcre2_match(impl_->code, subject, text.size(), pos, 0, md, nullptr);
    if (rc < 0) break;  // no further match: the rest is one gap
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    size_t start = ov[0], end = ov[1];
    if (start > pos) fn(text.substr(pos, start - pos));
    if (end == start) {
      // An empty match: advance by one UTF-8 character to make progress.
      end = start + 1;
      while (end < text.size() && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) ++end;
    }
    fn(text.substr(start, end - start));
    pos = end;
  }
  if (pos < text.size()) fn(text.substr(pos));
  pcre2_match_data_free(md);
}

}  // namespace muchator
