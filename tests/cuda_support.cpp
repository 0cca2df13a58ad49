// Test helpers for CUDA ops: availability, device arenas, host <-> device copies, ulp comparison.
#include "tests/cuda_support.h"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "kernels/cuda/device_info.h"
#include "kernels/cuda/memory.h"

namespace diverge::test {

bool cuda_available() {
  if (cuda::device_count() > 0) return true;
  MESSAGE("no CUDA device (and not the emulator build): skipped");
  return false;
}

Arena device_arena(std::size_t bytes) { return Arena("test", Device::cuda, bytes); }

Tensor to_device(Arena& arena, const std::vector<float>& host, std::initializer_list<std::int64_t> shape) {
  Tensor tensor = arena.alloc(DType::f32, shape);
  copy_into(tensor, host);
  return tensor;
}

void copy_into(const Tensor& device, const std::vector<float>& host) {
  REQUIRE(static_cast<std::size_t>(device.numel()) == host.size());
#ifdef DIVERGE_WITH_CUDA
  cuda::copy_to_device(device.data, host.data(), device.bytes());
#endif
}

std::vector<float> to_host(const Tensor& device) {
  std::vector<float> host(static_cast<std::size_t>(device.numel()));
#ifdef DIVERGE_WITH_CUDA
  cuda::copy_to_host(host.data(), device.data, device.bytes());
#endif
  return host;
}

bool within_ulps(float a, float b, float ulps) {
  if (a == b) return true;
  const float scale = std::max(std::fabs(a), std::fabs(b));
  return std::fabs(a - b) <= ulps * scale * std::numeric_limits<float>::epsilon();
}

}  // namespace diverge::test
