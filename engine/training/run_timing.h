// Where a run's wall time goes (training steps, evaluations, checkpoints) and the ETA that counts all three.
#pragma once

#include <cstdint>

namespace diverge {

// How many of the steps (step, last] hold an event that comes every `every` steps (0 = never) and, when at_last,
// also at `last` itself: the evaluations and checkpoints a run still has ahead.
std::int64_t events_after(std::int64_t step, std::int64_t last, std::int64_t every, bool at_last);

// Seconds and counts of one kind of work.
struct TimeTally {
  double seconds = 0.0;
  std::int64_t count = 0;

  void add(double s) {
    seconds += s;
    ++count;
  }
  double mean() const { return count > 0 ? seconds / static_cast<double>(count) : 0.0; }
};

struct RunTiming {
  TimeTally steps;        // forward, backward, optimizer (what tokens/s and GFLOP/s are measured over)
  TimeTally evals;
  TimeTally checkpoints;

  // Seconds left for `steps_left` steps, `evals_left` evaluations and `checkpoints_left` checkpoints at the mean
  // of each measured so far (work not yet measured once counts nothing).
  double eta(std::int64_t steps_left, std::int64_t evals_left, std::int64_t checkpoints_left) const {
    return steps.mean() * static_cast<double>(steps_left) + evals.mean() * static_cast<double>(evals_left) +
           checkpoints.mean() * static_cast<double>(checkpoints_left);
  }
};

}  // namespace diverge
