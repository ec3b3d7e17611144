// Who may use the server's /v1 API, and how often: API keys (constant-time comparison) and token
// buckets per key (per client address without keys) and per address. No HTTP here: the server
// passes the Authorization header and the client address, so this is unit-tested on its own.
#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "serve/request_json.h"

namespace muchator {

// True when `given` equals one of `keys`. Each comparison takes time that depends on the stored
// key's length only, never on how many leading bytes match, and every key is compared (no early
// exit), so response times do not reveal a key byte by byte. An empty `given` never matches.
bool ApiKeyMatches(const std::string& given, const std::vector<std::string>& keys);

class Admission {
 public:
  using Clock = std::chrono::steady_clock;
  // Empty `api_keys` = no authentication; a rate of 0 (requests per minute) = no limit.
  Admission(std::vector<std::string> api_keys, double rate_limit, double address_rate_limit);

  struct Verdict {
    bool admitted = true;
    ApiError error{200, "", "", "", ""};  // 401 or 429 when refused
    int retry_after_s = 0;                // for a 429: whole seconds until a token is back
  };
  // Checks the key of `authorization` ("Bearer KEY") when keys are set, then takes a token from
  // the caller's bucket (key, or address without keys) and the address's, only when both have one.
  Verdict Admit(const std::string& authorization, const std::string& address,
                Clock::time_point now = Clock::now());

 private:
  struct Bucket {
    double tokens;
    Clock::time_point at;
  };
  std::vector<std::string> keys_;
  double rate_, address_rate_;
  std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_, address_buckets_;
};

}  // namespace muchator
