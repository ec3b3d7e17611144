// Row validation: one JSON object (one JSONL line) -> one entity, or a Status saying exactly what
// is wrong ("field 'year': expected an integer, got \"1990s\""). Checks types, required fields,
// enums, ranges and unknown fields (a typo such as "titel" is an error, free-form data goes under
// "extra"). Referential integrity (does the song exist?) is checked by the ingester, which knows
// the store.
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

#include "core/error.h"
#include "data/entities.h"

namespace muchator {

Status ParseRow(const nlohmann::json& j, Artist* out);
Status ParseRow(const nlohmann::json& j, Song* out);
Status ParseRow(const nlohmann::json& j, User* out);
Status ParseRow(const nlohmann::json& j, Event* out);
Status ParseRow(const nlohmann::json& j, Comment* out);
Status ParseRow(const nlohmann::json& j, Playlist* out);
Status ParseRow(const nlohmann::json& j, Document* out);
Status ParseRow(const nlohmann::json& j, Relation* out);
Status ParseRow(const nlohmann::json& j, Query* out);

// Checks that `s` is valid UTF-8 (no overlongs, surrogates or code points above U+10FFFF).
// On failure returns the byte offset of the first bad byte in *bad_offset.
bool IsValidUtf8(std::string_view s, size_t* bad_offset = nullptr);

}  // namespace muchator
