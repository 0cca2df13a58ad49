// Counting the evaluations and checkpoints a run still has ahead.
#include "engine/training/run_timing.h"

namespace diverge {

std::int64_t events_after(std::int64_t step, std::int64_t last, std::int64_t every, bool at_last) {
  if (step >= last) return 0;
  const std::int64_t periodic = every > 0 ? last / every - step / every : 0;
  const bool last_is_periodic = every > 0 && last % every == 0;
  return periodic + (at_last && !last_is_periodic ? 1 : 0);
}

}  // namespace diverge
