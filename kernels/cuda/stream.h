// The compute and side streams for host-only sources (the NCCL group), which cannot include cuda_source.h: its
// launch template needs nvcc.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <functional>

namespace diverge::cuda {

// The process context's compute stream (context.h), where every kernel, copy and collective runs in order.
cudaStream_t launch_stream();

// The streams beside the compute stream, for collectives that overlap it: the gradient buckets', and the expert
// exchange's all-to-alls. The exchange has a stream of its own so that a layer's all-to-all, which the compute
// stream soon waits for, never queues behind the buckets the backward started before it.
enum class SideStream : std::uint8_t { gradients, exchange };

// Work on a side stream that overlaps the compute: ordered after everything the compute stream queued before it,
// ending at a point the compute stream can be made to wait for. Neither side blocks the host.
class CollectiveWork {
 public:
  // `issue` queues the work on the stream it is given (side's).
  CollectiveWork(SideStream side, const std::function<void(cudaStream_t)>& issue);
  ~CollectiveWork();
  CollectiveWork(const CollectiveWork&) = delete;
  CollectiveWork& operator=(const CollectiveWork&) = delete;
  // The compute stream's work queued after this call runs after the collective work.
  void join() const;

 private:
  cudaEvent_t done_ = nullptr;
};

}  // namespace diverge::cuda
