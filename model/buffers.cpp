// Buffers: arena allocation or byte counting with the arena's alignment rule.
#include "model/buffers.h"

#include "kernels/ops.h"

namespace diverge::model {

Tensor Buffers::take(DType dtype, std::initializer_list<std::int64_t> shape) {
  Tensor t = arena_ != nullptr ? arena_->alloc(dtype, shape) : make_view(nullptr, dtype, device_, shape);
  const std::size_t start = (bytes_ + Arena::kAlignment - 1) / Arena::kAlignment * Arena::kAlignment;
  bytes_ = start + t.bytes();
  return t;
}

Tensor Buffers::act(std::initializer_list<std::int64_t> shape) { return take(ops::activation_dtype(device_), shape); }

}  // namespace diverge::model
