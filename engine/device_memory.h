// Raw device memory: the one place that maps a Device to its allocator, so arenas never branch on the backend.
#pragma once

#include <cstddef>

#include "engine/tensor.h"

namespace diverge {

// Allocates `bytes` (rounded up to `alignment`) on `device`; `owner` names the requester in errors.
void* device_allocate(Device device, std::size_t bytes, std::size_t alignment, const char* owner);
void device_free(Device device, void* ptr);
void device_zero(Device device, void* ptr, std::size_t bytes);
// to = from, between any two devices (host <-> GPU included): one dtype, one element count; Error otherwise.
void copy_tensor(const Tensor& from, const Tensor& to);
// Returns once everything queued on `device` has run (at once on the CPU, whose ops finish before they return).
void device_synchronize(Device device);

}  // namespace diverge
