// Small string helpers shared by the layers.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace muchator {

// "a, b, c" for JoinStrings({"a", "b", "c"}, ", ").
std::string JoinStrings(const std::vector<std::string>& parts, const std::string& sep);
// ASCII letters lower-cased, every other byte as it is (so positions in `s` stay valid).
std::string AsciiLower(std::string_view s);
// Without leading and trailing ASCII whitespace.
std::string Trim(std::string_view s);
// The parts between `sep` (empty parts kept): Split("a,,b", ',') = {"a", "", "b"}.
std::vector<std::string> Split(std::string_view s, char sep);

}  // namespace muchator
