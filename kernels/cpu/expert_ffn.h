// CPU expert feed-forward over expert-grouped rows: each expert's rows through its own SwiGLU FFN, with backward.
#pragma once

#include <cstdint>

#include "kernels/expert_shape.h"

namespace diverge::cpu {

using diverge::ExpertInputPtrs;
using diverge::ExpertSavedPtrs;
using diverge::ExpertShape;
using diverge::ExpertWeightPtrs;
using diverge::grouped_input;

// For expert e, grouped rows [offsets[e], offsets[e + 1]) of the input x (rows, dim), read as ExpertInputPtrs says:
//   out = (silu(x W_gate[e]^T) * (x W_up[e]^T)) W_down[e]^T
// offsets (experts + 1) must run from 0 to rows without decreasing, and the input must be one check_expert_input
// accepts (Error otherwise).
template <class T>
void expert_ffn_forward(const ExpertShape& s, const std::int32_t* offsets, ExpertInputPtrs<const T> x,
                        ExpertWeightPtrs<const T> w, ExpertSavedPtrs<T> saved, T* out);

// dx (rows, dim), the gradient of the grouped rows, is overwritten; the weight gradients dw are added to. dgate_work
// and dup_work (rows, hidden) are workspace and hold the gradients of the saved gate and up activations on return.
template <class T>
void expert_ffn_backward(const ExpertShape& s, const std::int32_t* offsets, ExpertInputPtrs<const T> x,
                         ExpertWeightPtrs<const T> w, ExpertSavedPtrs<const T> saved, const T* dout, T* dx,
                         ExpertWeightPtrs<T> dw, T* dgate_work, T* dup_work);

}  // namespace diverge::cpu
