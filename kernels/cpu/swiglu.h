// CPU SwiGLU activation: out = silu(gate) * up, elementwise, with its backward.
#pragma once

#include <cstdint>

namespace diverge::cpu {

// out (n) = gate * sigmoid(gate) * up.
template <class T>
void swiglu_forward(const T* gate, const T* up, std::int64_t n, T* out);

// dgate (n) and dup (n) are overwritten from dout (n); dgate may alias dout (each element is read first).
template <class T>
void swiglu_backward(const T* dout, const T* gate, const T* up, std::int64_t n, T* dgate, T* dup);

}  // namespace diverge::cpu
