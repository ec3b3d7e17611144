// Flags about the model that several commands take, each declared here once (core/options.h says
// how a command binds one).
#pragma once

#include "core/options.h"
#include "model/config.h"

namespace muchator {

inline constexpr Flag kModelSizeFlag{
    .name = "model-size", .help = "named model size", .choices = ModelConfig::Names};
inline constexpr Flag kBf16Flag{"bf16", "bf16 arithmetic where the CPU supports it"};

}  // namespace muchator
