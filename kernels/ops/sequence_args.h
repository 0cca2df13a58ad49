// Argument checks shared by the ops that read routing per sequence (EDL, routing metrics): probs, mask, domains.
#pragma once

#include <cstdint>

#include "engine/tensor.h"
#include "kernels/cpu/sequence_means.h"
#include "kernels/ops/checks.h"

namespace diverge::ops {

// Checks probs (N, E) f32, domains (S) i32 with S > 0, and mask (S, T) i32 with N = S * T or an empty mask with N a
// multiple of S; returns (S, T, E, labels).
cpu::SequenceShape sequence_shape(const char* op, const Tensor& probs, const Tensor& mask, const Tensor& domains,
                                  std::int64_t labels);
// The mask's values on its device (its dtype checked by sequence_shape), or null for an empty mask (every token
// counts).
const std::int32_t* mask_data(const Tensor& mask);
// An optional argument, when given, must live where the op's required tensors do.
void check_optional_device(const char* op, Arg required, Arg optional);

}  // namespace diverge::ops
