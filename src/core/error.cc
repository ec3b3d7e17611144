#include "core/error.h"

namespace muchator {

namespace {
std::string Compose(const std::string& what, const std::string& where, const std::string& hint) {
  std::string s;
  if (!where.empty()) s += where + ": ";
  s += what;
  if (!hint.empty()) s += " (" + hint + ")";
  return s;
}
}  // namespace

Error::Error(std::string what, std::string where, std::string hint)
    : std::runtime_error(Compose(what, where, hint)),
      problem_(std::move(what)),
      where_(std::move(where)),
      hint_(std::move(hint)) {}

void Status::ThrowIfError(const std::string& where, const std::string& hint) const {
  if (!ok()) throw Error(message_, where, hint);
}

std::string FormatError(const Error& e) { return std::string("error: ") + e.what(); }

}  // namespace muchator
