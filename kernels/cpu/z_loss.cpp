// CPU router z-loss: the router's per-token logsumexp squared and summed over tokens in order.
#include "kernels/cpu/z_loss.h"

namespace diverge::cpu {

template <class T>
T router_z_loss(const T* lse, std::int64_t tokens) {
  double total = 0.0;
  for (std::int64_t t = 0; t < tokens; ++t) total += static_cast<double>(lse[t]) * static_cast<double>(lse[t]);
  return tokens == 0 ? T(0) : static_cast<T>(total / static_cast<double>(tokens));
}

template float router_z_loss<float>(const float*, std::int64_t);
template double router_z_loss<double>(const double*, std::int64_t);

}  // namespace diverge::cpu
