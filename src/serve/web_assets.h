// The web chat page's files (web/), embedded in the binary at build time (cmake/embed.cmake).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace muchator {

struct WebAsset {
  std::string path;  // relative to web/, e.g. "index.html"
  std::string_view data;
  std::string mime;
};
const std::vector<WebAsset>& WebAssets();

}  // namespace muchator
