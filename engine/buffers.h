// Where a group of tensors comes from: an arena, or a dry run that only counts the arena bytes they would take.
#pragma once

#include <cstddef>
#include <initializer_list>

#include "engine/arena.h"
#include "engine/tensor.h"

namespace diverge {

// Code that fills an arena takes its tensors through this, once in a dry run that sizes the arena and once on the
// arena itself, in the same order both times, so the planned bytes are exactly what the arena holds (its alignment
// rule included) and a buffer added later cannot be forgotten in the arena's size (planned_bytes below).
class Buffers {
 public:
  // A dry run for `device`: every take returns a shaped tensor without memory and counts the bytes it would need.
  explicit Buffers(Device device) : device_(device) {}
  // host_arena: where host() takes from when the arena is not on the host; null where nothing asks.
  explicit Buffers(Arena& arena, Arena* host_arena = nullptr)
      : arena_(&arena), host_arena_(host_arena), device_(arena.device()) {}

  // Uninitialised, as Arena::alloc: for what is written before it is read.
  Tensor take(DType dtype, std::initializer_list<std::int64_t> shape);
  // Zero-filled, as Arena::alloc_zeroed: for what is accumulated into or written sparsely.
  Tensor take_zeroed(DType dtype, std::initializer_list<std::int64_t> shape);
  // An activation: f32 on the CPU, bf16 on CUDA. The dtype is the op interface's (ops::activation_dtype in
  // kernels/ops.h, which every backend obeys), the one thing this engine file takes from kernels/.
  Tensor act(std::initializer_list<std::int64_t> shape);
  // Statistics, losses' inputs and router state: f32 on every device.
  Tensor f32(std::initializer_list<std::int64_t> shape) { return take(DType::f32, shape); }
  Tensor i32(std::initializer_list<std::int64_t> shape) { return take(DType::i32, shape); }
  // Uninitialised host memory, for what the host reads or writes between a pass's kernels on any device (an
  // exchange's row counts): from the arena itself where it is on the host, else from the host arena beside it.
  Tensor host(DType dtype, std::initializer_list<std::int64_t> shape);
  // Bytes taken so far, counted as the arena counts them (aligned starts).
  std::size_t bytes() const { return bytes_; }
  // Bytes host() took from the host arena (none where the arena is itself on the host).
  std::size_t host_bytes() const { return host_bytes_; }

 private:
  Tensor count(Tensor t);

  Arena* arena_ = nullptr;
  Arena* host_arena_ = nullptr;
  Device device_;
  std::size_t bytes_ = 0;
  std::size_t host_bytes_ = 0;
};

// The arena bytes on `device` that allocate(Buffers&) takes, from a dry run of it. Write an arena's allocations
// once, as a function of a Buffers, size the arena with this, then run the same function on Buffers(arena):
//
//   const auto allocate = [&](Buffers& b) { return Moments{b.take_zeroed(DType::f32, {P}), ...}; };
//   Arena arena("optimizer", device, planned_bytes(device, allocate));
//   Buffers buffers(arena);
//   const Moments moments = allocate(buffers);  // arena.used() == the planned bytes
template <class Allocate>
std::size_t planned_bytes(Device device, Allocate&& allocate) {
  Buffers plan(device);
  allocate(plan);
  return plan.bytes();
}

// For buffers whose shapes change between calls (a micro-batch's rows): empties `arena` and runs allocate on it,
// first replacing it with an arena of the planned size on `device` (same name, no hint) when the plan outgrows it
// or it lives on another device. Returns what allocate returns.
template <class Allocate>
auto reallocate(Arena& arena, Device device, Allocate&& allocate) {
  const std::size_t bytes = planned_bytes(device, allocate);
  if (bytes > arena.capacity() || device != arena.device()) arena = Arena(arena.name(), device, bytes);
  arena.reset();
  Buffers buffers(arena);
  return allocate(buffers);
}

}  // namespace diverge
