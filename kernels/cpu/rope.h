// CPU rotary position embedding (RoPE), half-split "rotate_half" convention of HF Llama/Qwen3.
#pragma once

#include <cstdint>

#include "kernels/rope_shape.h"

namespace diverge::cpu {

using diverge::RopeShape;

// For i < head_dim/2, angle = t * theta^(-2i/head_dim):
//   out[i] = x[i] cos - x[i + half] sin,   out[i + half] = x[i + half] cos + x[i] sin.
// out may alias x.
template <class T>
void rope_forward(const RopeShape& s, const T* x, T theta, T* out);

// The transpose of the rotation (a rotation by -angle); dx may alias dout.
template <class T>
void rope_backward(const RopeShape& s, const T* dout, T theta, T* dx);

}  // namespace diverge::cpu
