// CPU elementwise passes: parallel loops whose every element is computed alone, so any thread count gives the same
// bits.
#include "kernels/cpu/elementwise.h"

namespace diverge::cpu {

void add(const float* a, const float* b, std::int64_t n, float* out) {
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

}  // namespace diverge::cpu
