// The process's CUDA context: its compute stream and cuBLASLt handle, created once and torn down at exit.
#include "kernels/cuda/context.h"

#include <string>

#include "kernels/cuda/device_info.h"
#include "kernels/cuda/stream.h"

namespace diverge::cuda {

Context::Context() {
  check_cuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cuda::context", "creating the stream");
  check_cuda(cudaStreamCreateWithFlags(&gradient_stream_, cudaStreamNonBlocking), "cuda::context",
             "creating the gradients' stream");
  // The exchange's stream has the device's highest priority: the compute stream waits for each exchange soon, so its
  // kernels go ahead of the compute kernels beside them (the gradients' need not: their wait ends the step).
  int lowest = 0, highest = 0;
  check_cuda(cudaDeviceGetStreamPriorityRange(&lowest, &highest), "cuda::context", "reading the stream priorities");
  check_cuda(cudaStreamCreateWithPriority(&exchange_stream_, cudaStreamNonBlocking, highest), "cuda::context",
             "creating the expert exchange's stream");
  const cublasStatus_t status = cublasLtCreate(&blas_);
  if (status != CUBLAS_STATUS_SUCCESS)
    throw Error("cuda::context", "cublasLtCreate failed: cuBLAS status " + std::to_string(static_cast<int>(status)));
}

Context::~Context() {
  cublasLtDestroy(blas_);
  cudaStreamDestroy(exchange_stream_);
  cudaStreamDestroy(gradient_stream_);
  cudaStreamDestroy(stream_);
}

namespace {

WatchedGroup& device_queue() {
  static WatchedGroup group{.label = "device (the collectives queued on it)"};
  return group;
}

}  // namespace

WatchedDeviceWait::WatchedDeviceWait() : mark_("device wait", device_queue()) {}

void Context::synchronize() {
  const WatchedDeviceWait wait;
  ++waits_;
  check_cuda(cudaStreamSynchronize(stream_), "cuda::context", "waiting for the stream");
}

Context& context() {
  static Context instance;
  return instance;
}

cudaStream_t launch_stream() { return context().stream(); }

// A fresh event per point: cheap beside a collective, and nothing to recycle.
CollectiveWork::CollectiveWork(SideStream side, const std::function<void(cudaStream_t)>& issue) {
  const cudaStream_t compute = context().stream(), collectives = context().side_stream(side);
  cudaEvent_t ready = nullptr;
  check_cuda(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming), "cuda::CollectiveWork", "creating an event");
  check_cuda(cudaEventRecord(ready, compute), "cuda::CollectiveWork", "recording an event");
  check_cuda(cudaStreamWaitEvent(collectives, ready, 0), "cuda::CollectiveWork", "ordering the streams");
  cudaEventDestroy(ready);
  issue(collectives);
  check_cuda(cudaEventCreateWithFlags(&done_, cudaEventDisableTiming), "cuda::CollectiveWork", "creating an event");
  check_cuda(cudaEventRecord(done_, collectives), "cuda::CollectiveWork", "recording an event");
}

CollectiveWork::~CollectiveWork() { cudaEventDestroy(done_); }

void CollectiveWork::join() const {
  check_cuda(cudaStreamWaitEvent(context().stream(), done_, 0), "cuda::CollectiveWork", "ordering the streams");
}

std::uint64_t host_waits() { return context().waits(); }

}  // namespace diverge::cuda
