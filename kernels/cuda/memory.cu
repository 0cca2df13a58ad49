// Device memory: cudaMalloc / cudaFree / cudaMemset / cudaMemcpy with errors that say who asked and how much.
#include "kernels/cuda/memory.h"

#include <string>

#include "engine/progress.h"
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

void zero(void* pointer, std::size_t bytes) { check_cuda(cudaMemset(pointer, 0, bytes), "cuda::zero", "cudaMemset"); }

void copy_to_device(void* device, const void* host, std::size_t bytes) {
  check_cuda(cudaMemcpy(device, host, bytes, cudaMemcpyHostToDevice), "cuda::copy_to_device", "cudaMemcpy");
}

void copy_to_host(void* host, const void* device, std::size_t bytes) {
  check_cuda(cudaMemcpy(host, device, bytes, cudaMemcpyDeviceToHost), "cuda::copy_to_host", "cudaMemcpy");
}

void copy_on_device(void* to, const void* from, std::size_t bytes) {
  check_cuda(cudaMemcpy(to, from, bytes, cudaMemcpyDeviceToDevice), "cuda::copy_on_device", "cudaMemcpy");
}

}  // namespace diverge::cuda
