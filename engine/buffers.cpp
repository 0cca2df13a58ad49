// Buffers: arena allocation or byte counting with the arena's alignment rule.
#include "engine/buffers.h"

#include "engine/error.h"
#include "kernels/ops.h"

namespace diverge {

Tensor Buffers::count(Tensor t) {
  bytes_ = Arena::next_offset(bytes_) + t.bytes();
  return t;
}

Tensor Buffers::take(DType dtype, std::initializer_list<std::int64_t> shape) {
  return count(arena_ != nullptr ? arena_->alloc(dtype, shape) : make_view(nullptr, dtype, device_, shape));
}

Tensor Buffers::take_zeroed(DType dtype, std::initializer_list<std::int64_t> shape) {
  return count(arena_ != nullptr ? arena_->alloc_zeroed(dtype, shape) : make_view(nullptr, dtype, device_, shape));
}

Tensor Buffers::host(DType dtype, std::initializer_list<std::int64_t> shape) {
  if (device_ == Device::cpu) return take(dtype, shape);
  host_bytes_ = Arena::next_offset(host_bytes_) + make_view(nullptr, dtype, Device::cpu, shape).bytes();
  if (arena_ == nullptr) return make_view(nullptr, dtype, Device::cpu, shape);
  check(host_arena_ != nullptr, arena_->name(), "asked for host memory, and no host arena was given beside it");
  return host_arena_->alloc(dtype, shape);
}

Tensor Buffers::act(std::initializer_list<std::int64_t> shape) { return take(ops::activation_dtype(device_), shape); }

}  // namespace diverge
