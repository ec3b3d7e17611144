// Precompiled header for every translation unit that uses libtorch.
#pragma once
#include <torch/torch.h>
