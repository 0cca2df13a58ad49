// Host memory through aligned allocation; CUDA memory is refused until the CUDA backend provides it.
#include "engine/device_memory.h"

#include <cstdlib>
#include <cstring>
#include <string>

#include "engine/error.h"

namespace diverge {

namespace {

[[noreturn]] void no_cuda_memory(const char* owner) {
  throw Error(owner, "CUDA arenas need the CUDA backend (the CPU backend allocates host memory only)");
}

std::size_t round_up(std::size_t bytes, std::size_t alignment) {
  return (bytes + alignment - 1) / alignment * alignment;
}

}  // namespace

void* device_allocate(Device device, std::size_t bytes, std::size_t alignment, const char* owner) {
  if (device == Device::cuda) no_cuda_memory(owner);
  // aligned_alloc wants a non-zero multiple of the alignment; an empty arena still owns one block.
  const std::size_t rounded = round_up(bytes == 0 ? 1 : bytes, alignment);
  void* ptr = std::aligned_alloc(alignment, rounded);
  check(ptr != nullptr, owner, "out of host memory allocating " + std::to_string(rounded) + " bytes");
  return ptr;
}

void device_free(Device device, void* ptr) {
  if (device == Device::cpu) std::free(ptr);
}

void device_zero(Device device, void* ptr, std::size_t bytes) {
  if (device == Device::cuda) no_cuda_memory("device_zero");
  if (bytes > 0) std::memset(ptr, 0, bytes);
}

}  // namespace diverge
