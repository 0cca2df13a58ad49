// Test helpers for CUDA ops: availability, device arenas, host <-> device copies, ulp comparison.
#include "tests/cuda_support.h"

#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "engine/device_memory.h"
#include "kernels/cuda/device_info.h"
#include "kernels/cuda/memory.h"

namespace diverge::test {

bool cuda_available() {
  if (cuda::device_count() > 0) return true;
  MESSAGE("no CUDA device (and not the emulator build): skipped");
  return false;
}

std::vector<float> normal_values(std::size_t n, std::uint32_t seed, float scale) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> values(n);
  for (float& v : values) v = normal(rng);
  return values;
}

Tensor host_tensor(std::vector<float>& values, std::initializer_list<std::int64_t> shape) {
  Tensor tensor = make_view(values.data(), DType::f32, Device::cpu, shape);
  REQUIRE(static_cast<std::size_t>(tensor.numel()) == values.size());
  return tensor;
}

Arena device_arena(std::size_t bytes) { return Arena("test", Device::cuda, bytes); }

float loss_value(Device device, const std::function<void(const Tensor& loss)>& write) {
  Arena arena("test loss", device, Arena::kAlignment);
  const Tensor loss = arena.alloc(DType::f32, {1});
  write(loss);
  float host = 0.0f;
  copy_tensor(loss, make_view(&host, DType::f32, Device::cpu, {1}));
  return host;
}

Tensor to_device(Arena& arena, const std::vector<float>& host, std::initializer_list<std::int64_t> shape) {
  Tensor tensor = arena.alloc(DType::f32, shape);
  copy_into(tensor, host);
  return tensor;
}

Tensor to_device_i32(Arena& arena, const std::vector<std::int32_t>& values) {
  return to_device_i32(arena, values, {static_cast<std::int64_t>(values.size())});
}

Tensor to_device_i32(Arena& arena, const std::vector<std::int32_t>& values, std::initializer_list<std::int64_t> shape) {
  Tensor tensor = arena.alloc(DType::i32, shape);
  REQUIRE(static_cast<std::size_t>(tensor.numel()) == values.size());
#ifdef DIVERGE_WITH_CUDA
  cuda::copy_to_device(tensor.data, values.data(), tensor.bytes());
#endif
  return tensor;
}

std::vector<std::int32_t> i32_to_host(const Tensor& device) {
  std::vector<std::int32_t> host(static_cast<std::size_t>(device.numel()));
#ifdef DIVERGE_WITH_CUDA
  cuda::copy_to_host(host.data(), device.data, device.bytes());
#endif
  return host;
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

float round_to_bf16(float x) {
  if (std::isnan(x)) return x;
  auto bits = std::bit_cast<std::uint32_t>(x);
  const std::uint32_t lower = bits & 0xffffu, half = 0x8000u;
  bits &= 0xffff0000u;
  if (lower > half || (lower == half && (bits & 0x10000u) != 0)) bits += 0x10000u;
  return std::bit_cast<float>(bits);
}

std::vector<float> rounded_to_bf16(std::vector<float> values) {
  for (float& v : values) v = round_to_bf16(v);
  return values;
}

Tensor to_device_bf16(Arena& arena, const std::vector<float>& host, std::initializer_list<std::int64_t> shape) {
  Tensor tensor = arena.alloc(DType::bf16, shape);
  REQUIRE(static_cast<std::size_t>(tensor.numel()) == host.size());
  std::vector<std::uint16_t> bits(host.size());
  for (std::size_t i = 0; i < host.size(); ++i)
    bits[i] = static_cast<std::uint16_t>(std::bit_cast<std::uint32_t>(round_to_bf16(host[i])) >> 16);
#ifdef DIVERGE_WITH_CUDA
  cuda::copy_to_device(tensor.data, bits.data(), tensor.bytes());
#endif
  return tensor;
}

std::vector<float> bf16_to_host(const Tensor& device) {
  std::vector<std::uint16_t> bits(static_cast<std::size_t>(device.numel()));
#ifdef DIVERGE_WITH_CUDA
  cuda::copy_to_host(bits.data(), device.data, device.bytes());
#endif
  std::vector<float> host(bits.size());
  for (std::size_t i = 0; i < bits.size(); ++i) host[i] = std::bit_cast<float>(static_cast<std::uint32_t>(bits[i]) << 16);
  return host;
}

bool within_ulps(float a, float b, float ulps) {
  if (a == b) return true;
  const float scale = std::max(std::fabs(a), std::fabs(b));
  return std::fabs(a - b) <= ulps * scale * std::numeric_limits<float>::epsilon();
}

}  // namespace diverge::test
