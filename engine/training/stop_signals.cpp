// The stop-signal handlers: record the first signal, exit on the second, restore the previous handlers after.
#include "engine/training/stop_signals.h"

#include <unistd.h>

#include <atomic>
#include <cstring>

#include "engine/error.h"

namespace diverge {
namespace {

constexpr int kStopSignals[] = {SIGTERM, SIGINT, SIGUSR1};

// Lock-free, so the handler may touch it (async-signal-safe).
std::atomic<int> g_received{0};
std::atomic<bool> g_installed{false};

void write_stderr(const char* text) {
  const ssize_t ignored = ::write(STDERR_FILENO, text, std::strlen(text));
  (void)ignored;
}

void on_stop_signal(int signal) {
  int none = 0;
  if (!g_received.compare_exchange_strong(none, signal)) {
    write_stderr("diverge: second stop signal: exiting now\n");
    ::_exit(128 + signal);
  }
  write_stderr("diverge: ");
  write_stderr(signal_name(signal));
  write_stderr(" received: finishing this step, then writing a checkpoint (signal again to exit at once)\n");
}

}  // namespace

const char* signal_name(int signal) {
  switch (signal) {
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    case SIGUSR1: return "SIGUSR1";
    default: return "a signal";
  }
}

StopSignals::StopSignals() {
  check(!g_installed.exchange(true), "stop signals", "already handled by another run in this process");
  g_received = 0;
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  // Reads and writes in flight (shards, checkpoints) carry on rather than fail with EINTR.
  action.sa_flags = SA_RESTART;
  for (int i = 0; i < 3; ++i) ::sigaction(kStopSignals[i], &action, &previous_[i]);
}

StopSignals::~StopSignals() {
  for (int i = 0; i < 3; ++i) ::sigaction(kStopSignals[i], &previous_[i], nullptr);
  g_installed = false;
}

int StopSignals::received() const { return g_received.load(); }

}  // namespace diverge
