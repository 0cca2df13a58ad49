// CUDA backend presence and device discovery (the first CUDA translation unit; it proves the toolchain links).
#include "kernels/cuda/device_info.h"

#include <string>

#include "kernels/cuda/context.h"
#include "kernels/cuda/cuda_source.h"

namespace diverge::cuda {

namespace {

// Touches the device so that kernel launch is part of what the build links, not only the runtime API.
__global__ void probe_kernel(int* out) { *out = 1; }

}  // namespace

bool compiled_in() { return true; }

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error so later calls start clean
    return 0;
  }
  return n;
}

std::size_t free_memory() {
  if (device_count() == 0) return 0;
  std::size_t free = 0, total = 0;
  if (cudaMemGetInfo(&free, &total) != cudaSuccess) return 0;
  return free;
}

std::string device_name() {
  if (device_count() == 0) return "";
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) return "";
  return prop.name;
}

std::string describe_backend() {
#ifdef DIVERGE_CUDA_EMULATOR
  const char* kind = "on the CUDA emulator (host fibers), headers of CUDA ";
#else
  const char* kind = "built with CUDA ";
#endif
  std::string line = std::string("CUDA backend: ") + kind + std::to_string(CUDART_VERSION / 1000) + "." +
                     std::to_string((CUDART_VERSION % 1000) / 10);
  int n = device_count();
  if (n == 0) return line + "; no device visible";
  int* flag = nullptr;
  int host_flag = 0;
  if (cudaMalloc(&flag, sizeof(int)) == cudaSuccess) {
    DIVERGE_LAUNCH(probe_kernel, dim3(1), dim3(1), 0, flag);
    cudaMemcpyAsync(&host_flag, flag, sizeof(int), cudaMemcpyDeviceToHost, context().stream());
    cudaStreamSynchronize(context().stream());
    cudaFree(flag);
  }
  return line + "; " + std::to_string(n) + (n == 1 ? " device (" : " devices (") + device_name() + ")" +
         (host_flag == 1 ? "" : "; probe kernel failed to run");
}

}  // namespace diverge::cuda
