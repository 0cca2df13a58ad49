// What every kernel file includes: the CUDA runtime (or, in emulator builds, the CUDA emulator), the one launch
// wrapper kernels go through, and the dynamic shared memory macro.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>

#include "engine/error.h"

#ifdef DIVERGE_CUDA_EMULATOR
#include "tests/emulator/cuda_emulator.h"
#else
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#endif

// The block's dynamic shared memory as a `type*` named `name`. The emulator hands out a per-block buffer filled with
// 0xff bytes, so a kernel that reads shared memory before writing it sees NaN instead of stale luck.
#ifdef DIVERGE_CUDA_EMULATOR
#define DIVERGE_DYNAMIC_SHARED(type, name) type* name = reinterpret_cast<type*>(::diverge::emu::dynamic_shared())
#else
#define DIVERGE_DYNAMIC_SHARED(type, name)            \
  extern __shared__ __align__(16) unsigned char name##_bytes[]; \
  type* name = reinterpret_cast<type*>(name##_bytes)
#endif

// Has nvcc unroll the loop that follows completely: a loop that indexes a register array by its counter keeps the
// array in registers only when unrolled, where nvcc's own choice may leave a long body rolled and the array on the
// stack. Nothing on the emulator.
#ifdef DIVERGE_CUDA_EMULATOR
#define DIVERGE_UNROLL
#else
#define DIVERGE_UNROLL _Pragma("unroll")
#endif

namespace diverge::cuda {

// Throws Error(where, "<what>: <CUDA's message>") unless error is cudaSuccess.
inline void check_cuda(cudaError_t error, const char* where, const std::string& what) {
  if (error != cudaSuccess) throw Error(where, what + ": " + cudaGetErrorString(error));
}

// "kernel 'k' at f.cu:12: <what>", the wording of every launch failure.
inline std::string launch_failure(const char* kernel, const char* file, int line, const std::string& what) {
  return std::string("kernel '") + kernel + "' launched at " + file + ":" + std::to_string(line) + ": " + what;
}

// The stream every launch goes on: the process context's compute stream (context.h).
cudaStream_t launch_stream();

// kernel<<<grid, block, shared_bytes, launch_stream()>>>(args...), or the same grid on the emulator. Throws
// std::runtime_error naming the kernel and the launch site when the launch fails (on the emulator: when the kernel
// misuses a barrier or a warp collective).
template <class... Params, class... Args>
void launch_kernel(const char* name, const char* file, int line, void (*kernel)(Params...), dim3 grid, dim3 block,
                   std::size_t shared_bytes, const Args&... args) {
#ifdef DIVERGE_CUDA_EMULATOR
  const emu::LaunchInfo info{name, file, line, grid, block, shared_bytes};
  // The arguments are copied at the launch, as a GPU's launch copies them, so a deferred stream runs the kernel
  // on the values of the call.
  std::function<void()> body = [kernel, ... values = static_cast<Params>(args)] { kernel(values...); };
  emu::enqueue(launch_stream(), [info, body = std::move(body)] { emu::launch(info, body); });
#else
  kernel<<<grid, block, shared_bytes, launch_stream()>>>(static_cast<Params>(args)...);
  const cudaError_t error = cudaGetLastError();
  if (error != cudaSuccess) throw std::runtime_error(launch_failure(name, file, line, cudaGetErrorString(error)));
#endif
}

}  // namespace diverge::cuda

// The only way kernel files launch: DIVERGE_LAUNCH(kernel, grid, block, shared_bytes, args...), on the context's
// stream. A kernel template goes through an alias, since the macro splits template arguments at their commas.
#define DIVERGE_LAUNCH(kernel, grid, block, shared_bytes, ...) \
  ::diverge::cuda::launch_kernel(#kernel, __FILE__, __LINE__, kernel, grid, block, shared_bytes, __VA_ARGS__)
