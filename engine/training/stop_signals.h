// Preemption: SIGTERM, SIGINT and SIGUSR1 ask a run to stop after the current step; a second signal exits at once.
#pragma once

#include <csignal>

namespace diverge {

// While one lives, the first SIGTERM, SIGINT or SIGUSR1 (SLURM's --signal, a scheduler's preemption notice, Ctrl-C)
// is recorded and a note goes to stderr; the trainer finishes its step, writes a checkpoint and exits. A second
// such signal means "now": the process exits at once with 128 + the signal's number, as if killed by it, and a
// checkpoint being written stays a staging directory that the next start removes. The previous handlers come back
// when it dies. One at a time per process.
class StopSignals {
 public:
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  // The first signal received (SIGTERM, ...), or 0 while none has arrived.
  int received() const;

 private:
  struct sigaction previous_[3];
};

// "SIGTERM", "SIGINT", "SIGUSR1"; "signal N" for others.
const char* signal_name(int signal);

}  // namespace diverge
