// The compute stream for host-only sources (the NCCL group), which cannot include cuda_source.h: its launch
// template needs nvcc.
#pragma once

#include <cuda_runtime_api.h>

namespace diverge::cuda {

// The process context's compute stream (context.h), where every kernel, copy and collective runs in order.
cudaStream_t launch_stream();

}  // namespace diverge::cuda
