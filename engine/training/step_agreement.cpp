// The per-step agreement: two flags, all-reduced with max.
#include "engine/training/step_agreement.h"

namespace diverge {

StepAgreement agree_on_step(Comm& comm, bool locally_finite, bool stop_requested) {
  float flags[2] = {locally_finite ? 0.0f : 1.0f, stop_requested ? 1.0f : 0.0f};
  comm.allreduce(make_view(flags, DType::f32, Device::cpu, {2}), ReduceOp::max);
  return {.finite = flags[0] == 0.0f, .stop_requested = flags[1] != 0.0f};
}

}  // namespace diverge
