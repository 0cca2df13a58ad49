// The CUDA runtime API over host memory: allocations (poisoned with 0xff bytes, NaN as floats), synchronous copies
// and sets, one emulated device. Streams, events and the asynchronous calls are streams.cpp's.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <utility>

#include "tests/emulator/cuda_emulator.h"

namespace {

constexpr std::size_t kAlignment = 256;  // cudaMalloc's guarantee
constexpr unsigned char kPoison = 0xff;

// Live allocations, so that cudaFree of anything else is the error it is on a GPU.
std::mutex g_mutex;
std::unordered_map<void*, std::size_t> g_allocations;
std::size_t g_allocated = 0;
thread_local cudaError_t g_last_error = cudaSuccess;

cudaError_t fail(cudaError_t error) {
  g_last_error = error;
  return error;
}

}  // namespace

extern "C" {

cudaError_t cudaMalloc(void** pointer, size_t bytes) {
  if (pointer == nullptr) return fail(cudaErrorInvalidValue);
  // Exactly `bytes`, not rounded up as a GPU's allocator would: AddressSanitizer then reports a kernel that writes
  // one element past its buffer.
  const std::size_t size = std::max<std::size_t>(bytes, 1);
  void* memory = nullptr;
  if (::posix_memalign(&memory, kAlignment, size) != 0) return fail(cudaErrorMemoryAllocation);
  // A kernel that reads what nobody wrote sees NaN (floats) or -1 (integers), not a lucky zero.
  std::memset(memory, kPoison, size);
  std::lock_guard lock(g_mutex);
  g_allocations[memory] = size;
  g_allocated += size;
  *pointer = memory;
  return cudaSuccess;
}

cudaError_t cudaFree(void* pointer) {
  if (pointer == nullptr) return cudaSuccess;
  // As on a GPU, freeing waits for the device: no queued operation may still use the memory.
  diverge::emu::finish_streams_before_free();
  std::lock_guard lock(g_mutex);
  const auto found = g_allocations.find(pointer);
  if (found == g_allocations.end()) return fail(cudaErrorInvalidValue);
  g_allocated -= found->second;
  g_allocations.erase(found);
  std::free(pointer);
  return cudaSuccess;
}

cudaError_t cudaMallocHost(void** pointer, size_t bytes) { return cudaMalloc(pointer, bytes); }
cudaError_t cudaFreeHost(void* pointer) { return cudaFree(pointer); }

cudaError_t cudaMemcpy(void* destination, const void* source, size_t bytes, cudaMemcpyKind) {
  if (bytes > 0) std::memmove(destination, source, bytes);
  return cudaSuccess;
}

cudaError_t cudaMemset(void* destination, int value, size_t bytes) {
  if (bytes > 0) std::memset(destination, value, bytes);
  return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t* free, size_t* total) {
  constexpr std::size_t kEmulatedBytes = std::size_t{80} << 30;
  std::lock_guard lock(g_mutex);
  *total = kEmulatedBytes;
  *free = kEmulatedBytes > g_allocated ? kEmulatedBytes - g_allocated : 0;
  return cudaSuccess;
}

cudaError_t cudaGetLastError() { return std::exchange(g_last_error, cudaSuccess); }
cudaError_t cudaPeekAtLastError() { return g_last_error; }
const char* cudaGetErrorString(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    default: return "emulated CUDA error";
  }
}
const char* cudaGetErrorName(cudaError_t error) {
  return error == cudaSuccess ? "cudaSuccess" : error == cudaErrorInvalidValue ? "cudaErrorInvalidValue"
                                                                               : "cudaErrorMemoryAllocation";
}

cudaError_t cudaGetDeviceCount(int* count) {
  *count = 1;
  return cudaSuccess;
}
cudaError_t cudaGetDevice(int* device) {
  *device = 0;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) { return device == 0 ? cudaSuccess : fail(cudaErrorInvalidDevice); }

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* properties, int device) {
  if (device != 0) return fail(cudaErrorInvalidDevice);
  *properties = cudaDeviceProp{};
  std::strncpy(properties->name, "CUDA emulator (host fibers)", sizeof properties->name - 1);
  properties->major = 9;
  properties->minor = 0;
  properties->multiProcessorCount = 1;
  properties->warpSize = 32;
  properties->maxThreadsPerBlock = 1024;
  properties->sharedMemPerBlockOptin = 227 * 1024;
  properties->totalGlobalMem = std::size_t{80} << 30;
  return cudaSuccess;
}

cudaError_t cudaFuncSetAttribute(const void*, cudaFuncAttribute, int) { return cudaSuccess; }

}  // extern "C"
