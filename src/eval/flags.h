// Flags about evaluation that several commands take, each declared here once (core/options.h
// says how a command binds one).
#pragma once

#include "core/options.h"

namespace muchator {

inline constexpr Flag kRequestsFlag{"requests", "held-out test requests answered", 0, 1e9};
inline constexpr Flag kPerKindFlag{"per-kind", "benchmark questions of each kind", 1, 1e6};
inline constexpr Flag kU2iDocsFlag{"u2i-docs", "u2i: held-out behaviour documents scored (0 = all)",
                                   0, 1e9};
inline constexpr Flag kU2iContextFlag{
    "u2i-context", "u2i: tokens of each held-out document kept, from its end", 16, 1e7};

inline constexpr Flag kCheckpointsFlag{
    "checkpoints", "systems as NAME=CHECKPOINT_DIR, comma-separated (default: the run's)"};

}  // namespace muchator
