// Flags about the store's data that several commands take, each declared here once (core/options.h
// says how a command binds one).
#pragma once

#include "core/options.h"

namespace muchator {

inline constexpr Flag kSplitFlag{"split", "queries of this split (with a user) are the requests"};
inline constexpr Flag kHoldoutFlag{
    "holdout", "the last share of the log (by time) held out for evaluation", 0.001, 0.999};

}  // namespace muchator
