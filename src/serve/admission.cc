// API keys and rate limits of the server (serve/admission.h).
#include "serve/admission.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <tuple>

#include "core/strings.h"

namespace muchator {

bool ApiKeyMatches(const std::string& given, const std::vector<std::string>& keys) {
  // Written by hand: no Debian library at hand offers it for std::string (OpenSSL's CRYPTO_memcmp
  // needs equal lengths and a dependency for ten lines). volatile keeps the compiler from turning
  // the loop into an early-exit comparison.
  bool found = false;
  for (const auto& key : keys) {
    volatile unsigned char diff = given.size() != key.size() || key.empty();
    for (size_t i = 0; i < key.size(); ++i)
      diff = diff | static_cast<unsigned char>(key[i] ^ (i < given.size() ? given[i] : 0));
    found = found | (diff == 0);
  }
  return found && !given.empty();
}

Admission::Admission(std::vector<std::string> api_keys, double rate_limit,
                     double address_rate_limit)
    : keys_(std::move(api_keys)), rate_(rate_limit), address_rate_(address_rate_limit) {}

Admission::Verdict Admission::Admit(const std::string& authorization, const std::string& address,
                                    Clock::time_point now) {
  Verdict v;
  std::string who = address;
  if (!keys_.empty()) {
    const std::string key =
        authorization.rfind("Bearer ", 0) == 0 ? Trim(authorization.substr(7)) : "";
    if (!ApiKeyMatches(key, keys_)) {
      v.admitted = false;
      v.error = {401,
                 key.empty() ? "no API key: send the header 'Authorization: Bearer YOUR_KEY'"
                             : "the API key is not valid for this server",
                 "", "invalid_api_key", "authentication_error"};
      return v;
    }
    who = key;
  }
  // Token buckets: the key's (or the address's without keys), then the address's; a request
  // takes a token from each only when both have one.
  std::lock_guard l(mu_);
  auto refill = [&](std::unordered_map<std::string, Bucket>& m, const std::string& id,
                    double per_minute) -> Bucket* {
    if (per_minute <= 0) return nullptr;
    Bucket& b = m.try_emplace(id, Bucket{per_minute, now}).first->second;
    b.tokens = std::min(
        per_minute, b.tokens + std::chrono::duration<double>(now - b.at).count() * per_minute / 60);
    b.at = now;
    return &b;
  };
  Bucket* const own = refill(buckets_, who, rate_);
  Bucket* const addr = refill(address_buckets_, address, address_rate_);
  for (auto [b, per_minute, what] :
       {std::tuple{own, rate_, keys_.empty() ? "per client address" : "per API key"},
        std::tuple{addr, address_rate_, "per client address"}}) {
    if (!b || b->tokens >= 1) continue;
    const double wait = (1 - b->tokens) * 60 / per_minute;
    v.admitted = false;
    v.retry_after_s = static_cast<int>(std::ceil(wait));
    v.error = {429,
               fmt::format("rate limit reached ({} requests per minute {}): retry in {:.1f} s",
                           per_minute, what, wait),
               "", "rate_limit_exceeded", "rate_limit_error"};
    return v;
  }
  if (own) own->tokens -= 1;
  if (addr) addr->tokens -= 1;
  return v;
}

}  // namespace muchator
