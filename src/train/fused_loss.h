// The LM head and the masked cross-entropy as one step in bf16: logits = h W^T (bf16 matmul,
// fp32 accumulation), then one pass per row computes the loss and already the gradient of the
// logits, stored in bf16 in the logits' own buffer. Written here because Debian's libtorch 1.13
// converts the (tokens x vocabulary) logits between bf16 and fp32 and computes exp without
// vectorising: those passes were two thirds of a bf16 training step (bench/README.md, training).
#pragma once

#include <torch/torch.h>

namespace muchator {

// h: (..., C) hidden states (any float dtype), weight: (V, C) fp32 parameter, targets: (...)
// int64, mask: (...) (1 = counted). Returns the mean loss over masked-in positions (fp32 scalar);
// differentiable with respect to h and weight. Equals MaskedCrossEntropy(h W^T, ...) up to bf16
// rounding of the logits.
torch::Tensor FusedLinearCrossEntropyBf16(const torch::Tensor& h, const torch::Tensor& weight,
                                          const torch::Tensor& targets, const torch::Tensor& mask);

}  // namespace muchator
