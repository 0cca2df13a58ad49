// CPU elementwise passes over flat arrays: the residual stream's add and copy.
#pragma once

#include <cstdint>

namespace diverge::cpu {

// out (n) = a + b; out may alias a or b.
void add(const float* a, const float* b, std::int64_t n, float* out);

}  // namespace diverge::cpu
