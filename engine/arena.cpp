// Arena: bump allocation from one aligned block, with peak tracking and explanatory overflow errors.
#include "engine/arena.h"

#include <utility>

#include "engine/device_memory.h"
#include "engine/error.h"
#include "engine/progress.h"

namespace diverge {

Arena::Arena(std::string name, Device device, std::size_t capacity_bytes, std::string hint)
    : name_(std::move(name)), hint_(std::move(hint)), device_(device), capacity_(capacity_bytes) {
  const std::string owner = "arena '" + name_ + "'";
  base_ = device_allocate(device_, capacity_, kAlignment, owner.c_str());
}

Arena::~Arena() {
  if (base_ != nullptr) device_free(device_, base_);
}

Arena::Arena(Arena&& other) noexcept
    : name_(std::move(other.name_)),
      hint_(std::move(other.hint_)),
      device_(other.device_),
      capacity_(other.capacity_),
      used_(other.used_),
      peak_(other.peak_),
      base_(std::exchange(other.base_, nullptr)) {
  other.capacity_ = other.used_ = other.peak_ = 0;
}

Arena& Arena::operator=(Arena&& other) noexcept {
  if (this != &other) {
    if (base_ != nullptr) device_free(device_, base_);
    name_ = std::move(other.name_);
    hint_ = std::move(other.hint_);
    device_ = other.device_;
    capacity_ = std::exchange(other.capacity_, 0);
    used_ = std::exchange(other.used_, 0);
    peak_ = std::exchange(other.peak_, 0);
    base_ = std::exchange(other.base_, nullptr);
  }
  return *this;
}

Tensor Arena::alloc(DType dtype, std::initializer_list<std::int64_t> shape) {
  Tensor t = make_view(nullptr, dtype, device_, shape);
  const std::size_t offset = next_offset(used_);
  const std::size_t bytes = t.bytes();
  if (offset > capacity_ || bytes > capacity_ - offset) {
    std::string what = "cannot allocate " + format_bytes(static_cast<double>(bytes)) + " for " + t.describe() + ": " +
                       format_bytes(static_cast<double>(used_)) + " of " +
                       format_bytes(static_cast<double>(capacity_)) + " already in use";
    if (!hint_.empty()) what += "; " + hint_;
    throw Error("arena '" + name_ + "'", what);
  }
  t.data = static_cast<char*>(base_) + offset;
  used_ = offset + bytes;
  if (used_ > peak_) peak_ = used_;
  return t;
}

Tensor Arena::alloc_zeroed(DType dtype, std::initializer_list<std::int64_t> shape) {
  Tensor t = alloc(dtype, shape);
  device_zero(device_, t.data, t.bytes());
  return t;
}

void Arena::reset() { used_ = 0; }

}  // namespace diverge
