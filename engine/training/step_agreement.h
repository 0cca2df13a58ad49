// What every rank must agree on before a step's update: whether the step is finite everywhere, and whether any rank
// was asked to stop.
#pragma once

#include "engine/comm/comm.h"

namespace diverge {

struct StepAgreement {
  bool finite = true;           // every rank's losses were finite
  bool stop_requested = false;  // some rank received a stop signal
};

// One all-reduce (max) of two flags over comm: every rank takes the same update-or-skip decision and stops after the
// same step, so a signal that reaches ranks at different moments still gives one checkpoint step for all of them.
StepAgreement agree_on_step(Comm& comm, bool locally_finite, bool stop_requested);

}  // namespace diverge
