// Device twins of kernels/cpu/divergence.h: the clamped log and the Jensen-Shannon gradient in double, the CPU's
// expressions term for term so that both sides group the sums' terms alike.
#pragma once

#include "kernels/cpu/divergence.h"
#include "kernels/cuda/cuda_source.h"

namespace diverge::cuda {

__device__ __forceinline__ double clamped_log(double p) { return log(fmax(p, cpu::kLogClamp)); }

// d JSD(p, q) / d p_e = 1/2 log(p_e / m_e), m = (p + q) / 2.
__device__ __forceinline__ double jsd_gradient(double p, double q) {
  return 0.5 * (clamped_log(p) - clamped_log(0.5 * (p + q)));
}

}  // namespace diverge::cuda
