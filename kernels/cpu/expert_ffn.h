// CPU expert feed-forward over expert-grouped rows: each expert's rows through its own SwiGLU FFN, with backward.
#pragma once

#include <cstdint>

namespace diverge::cpu {

struct ExpertShape {
  std::int64_t experts;
  std::int64_t rows;    // R, all experts' rows together
  std::int64_t dim;     // C, model width
  std::int64_t hidden;  // F, expert hidden width
};

// The three weight blocks of all experts; P is T or const T.
template <class P>
struct ExpertWeightPtrs {
  P* gate;  // (experts, hidden, dim)
  P* up;    // (experts, hidden, dim)
  P* down;  // (experts, dim, hidden)
};

// Activations kept from the forward pass for the backward pass, each (rows, hidden).
template <class P>
struct ExpertSavedPtrs {
  P* gate;    // x W_gate^T
  P* up;      // x W_up^T
  P* hidden;  // silu(gate) * up
};

// For expert e, rows [offsets[e], offsets[e + 1]) of x (rows, dim):
//   out = (silu(x W_gate[e]^T) * (x W_up[e]^T)) W_down[e]^T
// offsets (experts + 1) must run from 0 to rows without decreasing (Error otherwise).
template <class T>
void expert_ffn_forward(const ExpertShape& s, const std::int32_t* offsets, const T* x, ExpertWeightPtrs<const T> w,
                        ExpertSavedPtrs<T> saved, T* out);

// dx (rows, dim) is overwritten; the weight gradients dw are added to. dgate_work and dup_work (rows, hidden) are
// workspace and hold the gradients of the saved gate and up activations on return.
template <class T>
void expert_ffn_backward(const ExpertShape& s, const std::int32_t* offsets, const T* x, ExpertWeightPtrs<const T> w,
                         ExpertSavedPtrs<const T> saved, const T* dout, T* dx, ExpertWeightPtrs<T> dw, T* dgate_work,
                         T* dup_work);

}  // namespace diverge::cpu
