// CUDA routing-metric sums of one micro-batch: computed on the device in double, added into a device or host window.
#pragma once

#include <cstdint>

#include "kernels/cpu/routing_metrics.h"

namespace diverge::cuda {

// Adds one micro-batch into the host arrays of out, as cpu::routing_sums_add does: probs (S * T, E), mask (S, T) or
// null, domains (S), topk (S * T, top_k) or null in device memory. The sums are computed in double, the precision
// of the window (q_s summed in an order fixed by the shape, domains in sequence order; top-k assignments counted in
// integers), copied back in one copy and added. An invalid batch (a domain id, mask value or expert id out of range,
// a sequence without a target-bearing token) is found on the device and copied back with the sums; its integer
// inputs are then read back and the CPU's checks throw the CPU's Error, leaving out untouched.
void routing_sums_add(const cpu::SequenceShape& s, const float* probs, const std::int32_t* mask,
                      const std::int32_t* domains, const std::int32_t* topk, std::int64_t top_k,
                      const cpu::RoutingSumsRef& out);

// The same sums added into window (cpu::window_size(M, E) doubles of device memory, laid out as cpu::window_parts)
// on the device: nothing is copied back. An invalid batch makes every value of the window NaN instead of an Error.
void routing_window_add(const cpu::SequenceShape& s, const float* probs, const std::int32_t* mask,
                        const std::int32_t* domains, const std::int32_t* topk, std::int64_t top_k, double* window);

}  // namespace diverge::cuda
