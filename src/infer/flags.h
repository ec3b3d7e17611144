// Flags about decoding that several commands take, each declared here once (core/options.h says
// how a command binds one).
#pragma once

#include "core/options.h"

namespace muchator {

inline constexpr Flag kTemperatureFlag{"temperature", "sampling temperature; 0 = greedy", 0, 100};
inline constexpr Flag kTopPFlag{"top-p", "nucleus sampling threshold", 1e-9, 1};
inline constexpr Flag kMaxTokensFlag{"max-tokens", "at most this many generated tokens", 1, 1e6};
inline constexpr Flag kMaxNewTokensFlag{"max-new-tokens",
                                        "unconstrained answers' length cap in tokens", 1, 1e6};
inline constexpr Flag kConstrainedFlag{
    "constrained", "decode only catalog songs in the list format (false: free text)"};
inline constexpr Flag kPriorRequestsFlag{"prior-requests",
                                         "training requests the priors average over", 1, 100000};

}  // namespace muchator
