// Small string helpers shared by the layers.
#pragma once

#include <string>
#include <vector>

namespace muchator {

// "a, b, c" for JoinStrings({"a", "b", "c"}, ", ").
std::string JoinStrings(const std::vector<std::string>& parts, const std::string& sep);

}  // namespace muchator
