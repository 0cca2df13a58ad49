// CUDA AdamW and the deterministic sum of squares over flat fp32 blocks: the GPU side of kernels/ops/optimizer.cpp.
#pragma once

#include <cstdint>
#include <span>

namespace diverge::cuda {

// What one AdamW update needs, the bias corrections computed on the host as the CPU reference computes them.
struct AdamWStep {
  float lr;
  float beta1;
  float beta2;
  float eps;
  float decay;         // 1 - lr * weight_decay
  float correction1;   // 1 - beta1^step
  float correction2;   // 1 - beta2^step
  float grad_scale;
};

// params, m, v (n) updated in place from grads (n), elementwise as kernels/cpu/adamw.h.
void adamw_step(const AdamWStep& h, std::int64_t n, float* params, const float* grads, float* m, float* v);

// host[i] = the sum of squares of parts[i] in double, each in an order fixed by its n alone: per-chunk tree sums,
// then the chunks in order, so the same input gives the same bits on every run. One wait for the device for all.
struct SquaresPart {
  const float* x;
  std::int64_t n;
};
void sums_of_squares(std::span<const SquaresPart> parts, double* host);

}  // namespace diverge::cuda
