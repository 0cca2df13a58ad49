// Arena: one contiguous block per purpose (parameters, gradients, optimizer state, activations) with peak tracking.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <string>

#include "engine/tensor.h"

namespace diverge {

// A bump allocator over one block of device memory. Parameters, gradients and optimizer state each get one arena
// sized exactly at model construction; activations get one that is reset every step, whose measured peak tells the
// user the real memory need. Allocation past capacity throws an Error naming the arena, the request and the knob
// to turn (`hint`), never returns null.
class Arena {
 public:
  static constexpr std::size_t kAlignment = 256;  // covers AVX-512 loads on the CPU and coalesced CUDA access
  // Where the next allocation starts once `used` bytes are taken: the rule Buffers plans arenas with.
  static std::size_t next_offset(std::size_t used) { return (used + kAlignment - 1) / kAlignment * kAlignment; }

  Arena(std::string name, Device device, std::size_t capacity_bytes, std::string hint = "");
  ~Arena();
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;
  Arena(Arena&& other) noexcept;
  Arena& operator=(Arena&& other) noexcept;

  // Uninitialised: every op overwrites its outputs, and clearing each activation buffer would cost a memset per
  // allocation on a GPU for nothing. alloc_zeroed() for what is accumulated into (gradients, moments).
  Tensor alloc(DType dtype, std::initializer_list<std::int64_t> shape);
  Tensor alloc_zeroed(DType dtype, std::initializer_list<std::int64_t> shape);
  // Frees everything allocated since construction (activations between steps); keeps the peak.
  void reset();

  const std::string& name() const { return name_; }
  Device device() const { return device_; }
  std::size_t capacity() const { return capacity_; }
  std::size_t used() const { return used_; }
  std::size_t peak() const { return peak_; }
  void* base() const { return base_; }

 private:
  std::string name_;
  std::string hint_;
  Device device_;
  std::size_t capacity_;
  std::size_t used_ = 0;
  std::size_t peak_ = 0;
  void* base_ = nullptr;
};

}  // namespace diverge
