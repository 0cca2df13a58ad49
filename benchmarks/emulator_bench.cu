// Times the CUDA emulator itself: the cost of one __syncthreads arrival and of one warp shuffle, per emulated thread.
#include <chrono>
#include <cstdio>

#include "kernels/cuda/cuda_source.h"

namespace {

__global__ void barriers_kernel(int rounds, int* sink) {
  int value = static_cast<int>(threadIdx.x);
  for (int r = 0; r < rounds; ++r) {
    value += r;
    __syncthreads();
  }
  if (value == -1) *sink = value;
}

__global__ void shuffles_kernel(int rounds, int* sink) {
  int value = static_cast<int>(threadIdx.x);
  for (int r = 0; r < rounds; ++r) value += __shfl_xor_sync(0xffffffffu, value, 1);
  if (value == -1) *sink = value;
}

// Nanoseconds per thread and round of `kernel` over `blocks` blocks of `threads`.
template <class Kernel>
double nanoseconds_per_arrival(Kernel kernel, const char* name, unsigned blocks, unsigned threads, int rounds) {
  int* sink = nullptr;
  cudaMalloc(&sink, sizeof(int));
  const auto start = std::chrono::steady_clock::now();
  diverge::cuda::launch_kernel(name, __FILE__, __LINE__, kernel, dim3(blocks), dim3(threads), 0, rounds,
                               sink);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  cudaFree(sink);
  return seconds * 1e9 / (static_cast<double>(blocks) * threads * rounds);
}

}  // namespace

int main() {
  const unsigned blocks = 8, threads = 1024;
  const int rounds = 200;
  std::printf("emulator: %u blocks x %u threads x %d rounds\n", blocks, threads, rounds);
  std::printf("__syncthreads: %.1f ns per thread arrival\n",
              nanoseconds_per_arrival(barriers_kernel, "barriers_kernel", blocks, threads, rounds));
  std::printf("__shfl_xor_sync: %.1f ns per lane\n",
              nanoseconds_per_arrival(shuffles_kernel, "shuffles_kernel", blocks, threads, rounds));
  return 0;
}
