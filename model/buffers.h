// Where a step's activation buffers come from: the activation arena, or a dry run that only counts their bytes.
#pragma once

#include <cstddef>
#include <initializer_list>

#include "engine/arena.h"
#include "engine/tensor.h"

namespace diverge::model {

// Every block allocates its buffers through this, in the same order in the planning pass and in the real step, so
// the planned bytes are exactly what the arena will hold (Arena's alignment rule included).
class Buffers {
 public:
  // A dry run for `device`: take() returns shaped tensors without memory and counts the arena bytes they would need.
  explicit Buffers(Device device) : device_(device) {}
  explicit Buffers(Arena& arena) : arena_(&arena), device_(arena.device()) {}

  Tensor take(DType dtype, std::initializer_list<std::int64_t> shape);
  // An activation: f32 on the CPU, bf16 on CUDA (ops::activation_dtype).
  Tensor act(std::initializer_list<std::int64_t> shape);
  // Statistics, losses' inputs and router state: f32 on every device.
  Tensor f32(std::initializer_list<std::int64_t> shape) { return take(DType::f32, shape); }
  Tensor i32(std::initializer_list<std::int64_t> shape) { return take(DType::i32, shape); }
  // Bytes taken so far, counted as the arena counts them (aligned starts).
  std::size_t bytes() const { return bytes_; }

 private:
  Arena* arena_ = nullptr;
  Device device_;
  std::size_t bytes_ = 0;
};

}  // namespace diverge::model
