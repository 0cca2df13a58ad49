// Tests for what a run reports about time: the evaluations and checkpoints still ahead, the ETA that counts them,
// and the end line that keeps training throughput apart from wall time.
#include <doctest/doctest.h>

#include "engine/training/run_report.h"
#include "engine/training/run_timing.h"

using namespace diverge;

TEST_CASE("run timing: events_after counts periodic events and the final one") {
  CHECK(events_after(0, 100, 10, true) == 10);   // 10, 20, ..., 100
  CHECK(events_after(0, 95, 10, true) == 10);    // 10, ..., 90, and 95 itself
  CHECK(events_after(0, 95, 10, false) == 9);
  CHECK(events_after(37, 95, 10, true) == 7);    // 40, ..., 90, 95
  CHECK(events_after(95, 95, 10, true) == 0);
  CHECK(events_after(0, 50, 0, true) == 1);      // only at the end
  CHECK(events_after(0, 50, 0, false) == 0);
}

TEST_CASE("run timing: the ETA counts steps, evaluations and checkpoints at their measured means") {
  RunTiming timing;
  CHECK(timing.eta(10, 2, 1) == 0.0);
  timing.steps.add(1.0);
  timing.steps.add(3.0);
  CHECK(timing.eta(10, 2, 1) == 20.0);  // evaluations and checkpoints not measured yet count nothing
  timing.evals.add(5.0);
  timing.checkpoints.add(0.5);
  CHECK(timing.eta(10, 2, 1) == 20.0 + 10.0 + 0.5);
}

TEST_CASE("run report: the end line gives training throughput and, apart, the wall time with eval and checkpoints") {
  RunTiming timing;
  for (int i = 0; i < 100; ++i) timing.steps.add(0.5);
  timing.evals.add(12.0);
  timing.checkpoints.add(3.0);
  RunFacts facts;
  facts.tokens_per_step = 4096;
  facts.flops_per_token = 1'000'000;
  CHECK(format_run_end(100, timing, 66.0, facts) ==
        "done: step 100, 100 steps | training 50s, 8,192 tok/s, 8.19 GFLOP/s | wall 1m06s (eval 12s, checkpoints 3s)");
  CHECK(format_run_end(100, RunTiming{}, 0.1, facts) == "done: step 100, no steps left to run");
}
