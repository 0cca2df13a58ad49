// A device group's started collective: queued on a side stream, after the compute stream's work so far.
#pragma once

#include <functional>

#include "engine/comm/comm.h"
#include "engine/step_profile.h"
#include "kernels/cuda/stream.h"

namespace diverge {

class DeviceInFlight final : public InFlight {
 public:
  // `issue` queues the collective on the stream it is given (side's).
  DeviceInFlight(cuda::SideStream side, const std::function<void(cudaStream_t)>& issue) : work_(side, issue) {}
  // Marked as communication, so that a step profile counts the compute stream's wait for the collective (the part
  // the work beside it did not hide) there, not in the part that follows.
  void wait() override {
    const PartScope part(StepPart::communication);
    work_.join();
  }

 private:
  cuda::CollectiveWork work_;
};

}  // namespace diverge
