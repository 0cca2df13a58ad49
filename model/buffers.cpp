// Buffers: arena allocation or byte counting with the arena's alignment rule.
#include "model/buffers.h"

namespace diverge::model {

Tensor Buffers::take(DType dtype, std::initializer_list<std::int64_t> shape) {
  Tensor t = arena_ != nullptr ? arena_->alloc(dtype, shape) : make_view(nullptr, dtype, Device::cpu, shape);
  const std::size_t start = (bytes_ + Arena::kAlignment - 1) / Arena::kAlignment * Arena::kAlignment;
  bytes_ = start + t.bytes();
  return t;
}

}  // namespace diverge::model
