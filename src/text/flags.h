// Flags about prompts and the tokenizer that several commands take, each declared here once
// (core/options.h says how a command binds one).
#pragma once

#include "core/options.h"
#include "text/item_codec.h"

namespace muchator {

inline constexpr Flag kHistoryFlag{"history", "events of the listener's history in each prompt", 0,
                                   10000};
inline constexpr Flag kListSizeFlag{"list-size", "songs asked for", 1, 1000};
inline constexpr Flag kVocabSizeFlag{
    "vocab-size", "tokenizer vocabulary size (bytes and special tokens included)", 300, 1000000};

inline constexpr Flag kCodecFlag{.name = "codec",
                                 .help = "how songs are written as tokens (docs/text.md)",
                                 .choices = ItemCodecNames};

}  // namespace muchator
