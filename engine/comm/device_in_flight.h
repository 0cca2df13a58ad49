// A device group's started collective: queued on the collective stream, after the compute stream's work so far.
#pragma once

#include <functional>

#include "engine/comm/comm.h"
#include "kernels/cuda/stream.h"

namespace diverge {

class DeviceInFlight final : public InFlight {
 public:
  // `issue` queues the collective on the stream it is given.
  explicit DeviceInFlight(const std::function<void(cudaStream_t)>& issue) : work_(issue) {}
  void wait() override { work_.join(); }

 private:
  cuda::CollectiveWork work_;
};

}  // namespace diverge
