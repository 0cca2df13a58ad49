// SwiGLU's formulas on fp32 values, shared by the elementwise passes and the grouped products' epilogues:
// silu'(g) = s (1 + g (1 - s)) with s = sigmoid(g), as the CPU.
#pragma once

#include "kernels/cuda/cuda_source.h"

namespace diverge::cuda {

__device__ __forceinline__ float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

__device__ __forceinline__ float swiglu(float gate, float up) { return gate * sigmoid(gate) * up; }

struct SwigluGradients {
  float gate;
  float up;
};

// The gradients of silu(gate) * up given d of it.
__device__ __forceinline__ SwigluGradients swiglu_gradients(float d, float gate, float up) {
  const float s = sigmoid(gate);
  return {d * up * s * (1.0f + gate * (1.0f - s)), d * gate * s};
}

}  // namespace diverge::cuda
