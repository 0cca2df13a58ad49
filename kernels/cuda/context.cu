// The process's CUDA context: its compute stream and cuBLASLt handle, created once and torn down at exit.
#include "kernels/cuda/context.h"

#include <string>

#include "kernels/cuda/device_info.h"

namespace diverge::cuda {

Context::Context() {
  check_cuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cuda::context", "creating the stream");
  const cublasStatus_t status = cublasLtCreate(&blas_);
  if (status != CUBLAS_STATUS_SUCCESS)
    throw Error("cuda::context", "cublasLtCreate failed: cuBLAS status " + std::to_string(static_cast<int>(status)));
}

Context::~Context() {
  cublasLtDestroy(blas_);
  cudaStreamDestroy(stream_);
}

void Context::synchronize() {
  ++waits_;
  check_cuda(cudaStreamSynchronize(stream_), "cuda::context", "waiting for the stream");
}

Context& context() {
  static Context instance;
  return instance;
}

cudaStream_t launch_stream() { return context().stream(); }

std::uint64_t host_waits() { return context().waits(); }

}  // namespace diverge::cuda
