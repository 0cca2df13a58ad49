// Device memory: allocation with errors that say who asked and how much, and copies and clears on the context's stream.
#include "kernels/cuda/memory.h"

#include <string>

#include "engine/progress.h"
#include "kernels/cuda/context.h"
#include "kernels/cuda/cuda_source.h"

namespace diverge::cuda {

void* allocate(std::size_t bytes, const char* owner) {
  void* pointer = nullptr;
  const cudaError_t error = cudaMalloc(&pointer, bytes == 0 ? 1 : bytes);
  if (error != cudaSuccess) {
    std::size_t free = 0, total = 0;
    cudaGetLastError();
    cudaMemGetInfo(&free, &total);
    throw Error(owner, "cannot allocate " + format_bytes(static_cast<double>(bytes)) + " of device memory (" +
                           format_bytes(static_cast<double>(free)) + " free of " +
                           format_bytes(static_cast<double>(total)) + "): " + cudaGetErrorString(error));
  }
  return pointer;
}

void release(void* pointer) { cudaFree(pointer); }

void zero(void* pointer, std::size_t bytes) {
  check_cuda(cudaMemsetAsync(pointer, 0, bytes, context().stream()), "cuda::zero", "cudaMemsetAsync");
}

// From pageable host memory the call returns once the source has been staged, so the caller may reuse it at once.
void copy_to_device(void* device, const void* host, std::size_t bytes) {
  check_cuda(cudaMemcpyAsync(device, host, bytes, cudaMemcpyHostToDevice, context().stream()),
             "cuda::copy_to_device", "cudaMemcpyAsync");
}

// The one place the host waits for the device: after the kernels queued before it. From pageable memory the copy
// itself waits, so the watch covers it too.
void copy_to_host(void* host, const void* device, std::size_t bytes) {
  const WatchedDeviceWait wait;
  check_cuda(cudaMemcpyAsync(host, device, bytes, cudaMemcpyDeviceToHost, context().stream()), "cuda::copy_to_host",
             "cudaMemcpyAsync");
  context().synchronize();
}

void copy_on_device(void* to, const void* from, std::size_t bytes) {
  check_cuda(cudaMemcpyAsync(to, from, bytes, cudaMemcpyDeviceToDevice, context().stream()), "cuda::copy_on_device",
             "cudaMemcpyAsync");
}

void synchronize() { context().synchronize(); }

}  // namespace diverge::cuda
