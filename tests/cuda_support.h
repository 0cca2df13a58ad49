// Helpers for tests that run an op on CUDA tensors beside the CPU reference: device copies of host data and back.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <vector>

#include "engine/arena.h"
#include "engine/tensor.h"

namespace diverge::test {

// Whether CUDA tensors can be made here (a GPU, or the emulator); prints why a test is skipped when not.
bool cuda_available();

// n draws of Normal(0, scale) from a seeded generator.
std::vector<float> normal_values(std::size_t n, std::uint32_t seed, float scale);
// A CPU tensor viewing values with that shape (the CPU reference's side of a comparison).
Tensor host_tensor(std::vector<float>& values, std::initializer_list<std::int64_t> shape);

// A device arena of `bytes` for a test's tensors.
Arena device_arena(std::size_t bytes);

// A device tensor of shape holding host (row-major, numel(shape) values).
Tensor to_device(Arena& arena, const std::vector<float>& host, std::initializer_list<std::int64_t> shape);
// A device i32 tensor of shape (by default (n)) holding values, and an i32 device tensor read back.
Tensor to_device_i32(Arena& arena, const std::vector<std::int32_t>& values);
Tensor to_device_i32(Arena& arena, const std::vector<std::int32_t>& values, std::initializer_list<std::int64_t> shape);
std::vector<std::int32_t> i32_to_host(const Tensor& device);
// Overwrites a device tensor with host (as many values).
void copy_into(const Tensor& device, const std::vector<float>& host);
std::vector<float> to_host(const Tensor& device);

// What a loss op writes into its one-float f32 output on `device`, read back to the host.
float loss_value(Device device, const std::function<void(const Tensor& loss)>& write);

// x rounded to the nearest bf16 (ties to even) and back to float: what a bf16 tensor can hold. Written from the
// format's definition, independently of the CUDA headers.
float round_to_bf16(float x);
std::vector<float> rounded_to_bf16(std::vector<float> values);
// A bf16 device tensor of shape holding host rounded to bf16, and a bf16 device tensor read back as floats.
Tensor to_device_bf16(Arena& arena, const std::vector<float>& host, std::initializer_list<std::int64_t> shape);
std::vector<float> bf16_to_host(const Tensor& device);
// Half a bf16 unit in the last place, relative: the most rounding to bf16 moves a value.
inline constexpr float kBf16Rounding = 0x1p-8f;

// Whether a and b agree within `ulps` units in the last place of the larger magnitude (and exactly where both are
// 0); CUDA and the CPU may round a few operations differently (fused multiply-adds, division).
bool within_ulps(float a, float b, float ulps);

}  // namespace diverge::test
