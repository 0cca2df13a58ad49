// Helpers for tests that run an op on CUDA tensors beside the CPU reference: device copies of host data and back.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <vector>

#include "engine/arena.h"
#include "engine/tensor.h"

namespace diverge::test {

// Whether CUDA tensors can be made here (a GPU, or the emulator); prints why a test is skipped when not.
bool cuda_available();

// A device arena of `bytes` for a test's tensors.
Arena device_arena(std::size_t bytes);

// A device tensor of shape holding host (row-major, numel(shape) values).
Tensor to_device(Arena& arena, const std::vector<float>& host, std::initializer_list<std::int64_t> shape);
// Overwrites a device tensor with host (as many values).
void copy_into(const Tensor& device, const std::vector<float>& host);
std::vector<float> to_host(const Tensor& device);

// Whether a and b agree within `ulps` units in the last place of the larger magnitude (and exactly where both are
// 0); CUDA and the CPU may round a few operations differently (fused multiply-adds, division).
bool within_ulps(float a, float b, float ulps);

}  // namespace diverge::test
