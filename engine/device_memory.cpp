// Host memory through aligned allocation, CUDA memory through the CUDA backend (refused when it is not built).
#include "engine/device_memory.h"

#include <cstdlib>
#include <cstring>
#include <string>

#include "engine/error.h"
#include "kernels/cuda/memory.h"

namespace diverge {

namespace {

#ifndef DIVERGE_WITH_CUDA
[[noreturn]] void no_cuda_backend(const char* owner) {
  throw Error(owner, "CUDA arenas need the CUDA backend, which this build does not have (configure with nvcc "
                     "available, or -DDIVERGE_CUDA_EMULATOR=ON)");
}
#endif

void* allocate_cuda(std::size_t bytes, const char* owner) {
#ifdef DIVERGE_WITH_CUDA
  return cuda::allocate(bytes, owner);
#else
  no_cuda_backend(owner);
#endif
}

void copy_cuda(Device to_device, void* to, Device from_device, const void* from, std::size_t bytes) {
#ifdef DIVERGE_WITH_CUDA
  if (to_device == Device::cuda && from_device == Device::cuda) return cuda::copy_on_device(to, from, bytes);
  if (to_device == Device::cuda) return cuda::copy_to_device(to, from, bytes);
  cuda::copy_to_host(to, from, bytes);
#else
  (void)to_device;
  (void)to;
  (void)from_device;
  (void)from;
  (void)bytes;
  no_cuda_backend("copy_tensor");
#endif
}

void zero_cuda(void* ptr, std::size_t bytes) {
#ifdef DIVERGE_WITH_CUDA
  cuda::zero(ptr, bytes);
#else
  (void)ptr;
  (void)bytes;
  no_cuda_backend("device_zero");
#endif
}

std::size_t round_up(std::size_t bytes, std::size_t alignment) {
  return (bytes + alignment - 1) / alignment * alignment;
}

}  // namespace

void* device_allocate(Device device, std::size_t bytes, std::size_t alignment, const char* owner) {
  // aligned_alloc wants a non-zero multiple of the alignment; an empty arena still owns one block.
  const std::size_t rounded = round_up(bytes == 0 ? 1 : bytes, alignment);
  if (device == Device::cuda) return allocate_cuda(rounded, owner);
  void* ptr = std::aligned_alloc(alignment, rounded);
  check(ptr != nullptr, owner, "out of host memory allocating " + std::to_string(rounded) + " bytes");
  return ptr;
}

void device_free(Device device, void* ptr) {
#ifdef DIVERGE_WITH_CUDA
  if (device == Device::cuda) return cuda::release(ptr);
#endif
  if (device == Device::cpu) std::free(ptr);
}

void device_zero(Device device, void* ptr, std::size_t bytes) {
  if (bytes == 0) return;
  if (device == Device::cuda) return zero_cuda(ptr, bytes);
  std::memset(ptr, 0, bytes);
}

void copy_tensor(const Tensor& from, const Tensor& to) {
  check(from.dtype == to.dtype && from.numel() == to.numel(), "copy_tensor",
        "needs one dtype and element count, got " + from.describe() + " and " + to.describe());
  if (from.bytes() == 0 || from.data == to.data) return;
  if (from.device == Device::cpu && to.device == Device::cpu) {
    std::memcpy(to.data, from.data, from.bytes());
    return;
  }
  copy_cuda(to.device, to.data, from.device, from.data, from.bytes());
}

void device_synchronize(Device device) {
#ifdef DIVERGE_WITH_CUDA
  if (device == Device::cuda) cuda::synchronize();
#else
  (void)device;
#endif
}

}  // namespace diverge
