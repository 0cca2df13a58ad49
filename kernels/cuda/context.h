// The process's CUDA context: the stream every kernel, copy and cuBLASLt call runs on, and the handle bound to it.
#pragma once

#include <cublasLt.h>

#include <cstdint>

#include "engine/comm/collective_watchdog.h"
#include "kernels/cuda/cuda_source.h"
#include "kernels/cuda/stream.h"

namespace diverge::cuda {

// Created on first use for the current device. The compute stream does not synchronise with the legacy default
// stream, so nothing of the engine may use the default stream: every launch (DIVERGE_LAUNCH), copy (memory.h) and
// library call goes through stream(). Collectives that overlap the compute (the gradients' reduction during the
// backward, the expert exchange beside the shared experts) go on a side stream, ordered against the compute stream
// by events (stream.h).
class Context {
 public:
  Context();
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  cudaStream_t stream() const { return stream_; }
  cudaStream_t side_stream(SideStream side) const {
    return side == SideStream::gradients ? gradient_stream_ : exchange_stream_;
  }
  cublasLtHandle_t blas() const { return blas_; }
  // Waits until everything queued on the stream has run, and reports an asynchronous kernel fault there. Watched
  // (WatchedDeviceWait).
  void synchronize();
  std::uint64_t waits() const { return waits_; }

 private:
  cudaStream_t stream_ = nullptr;  // created first: the emulator's DIVERGE_EMU_DEFER names it the first stream
  cudaStream_t gradient_stream_ = nullptr;
  cudaStream_t exchange_stream_ = nullptr;
  cublasLtHandle_t blas_ = nullptr;
  std::uint64_t waits_ = 0;  // synchronize() calls: cuda::host_waits()
};

Context& context();

// Marks a wait of the host for the device for the collective watchdog while it lives: on several ranks the device's
// queue holds NCCL's collectives, so a peer that hangs leaves this rank waiting for its device, not in a host call.
class WatchedDeviceWait {
 public:
  WatchedDeviceWait();

 private:
  WatchedCollective mark_;
};

}  // namespace diverge::cuda
