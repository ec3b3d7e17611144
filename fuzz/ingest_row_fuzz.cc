// libFuzzer harness: one ingestion row (a JSONL line from outside) through JSON parsing and the
// validation of every entity kind (data/validate.h), and the UTF-8 check the ingester runs on raw
// lines. Bad rows must come back as a Status, never as a crash, an uncaught exception or a
// sanitizer report.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string_view>

#include "data/validate.h"

namespace {

template <typename Entity>
void Check(const nlohmann::json& j) {
  Entity e;
  muchator::Status s = muchator::ParseRow(j, &e);
  (void)s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  size_t bad = 0;
  (void)muchator::IsValidUtf8(text, &bad);
  // The ingester parses each line the same way: no exceptions, a discarded value on bad JSON.
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;
  Check<muchator::Artist>(j);
  Check<muchator::Song>(j);
  Check<muchator::User>(j);
  Check<muchator::Event>(j);
  Check<muchator::Comment>(j);
  Check<muchator::Playlist>(j);
  Check<muchator::Document>(j);
  Check<muchator::Relation>(j);
  Check<muchator::Query>(j);
  return 0;
}
