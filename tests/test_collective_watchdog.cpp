// Tests for the collective watchdog in one process: a collective past its deadline ends the process with one line
// naming the rank, collective, group and key, nested marks included; short collectives, untimed waits and a
// stopped process do not.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "engine/comm/collective_watchdog.h"

using namespace diverge;

namespace {

void sleep_s(double seconds) { std::this_thread::sleep_for(std::chrono::duration<double>(seconds)); }

struct Ended {
  int code = 0;        // exit code, or minus the signal that killed it
  std::string stderr;  // what it wrote to stderr
};

// Runs body in a child process whose watchdog is armed with timeout_s; returns how the child ended. `during`, if
// given, runs in the parent while the child lives (it gets the child's pid).
template <class Body, class During>
Ended in_watched_child(double timeout_s, Body body, During during) {
  int pipe_ends[2];
  REQUIRE(::pipe(pipe_ends) == 0);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(pipe_ends[0]);
    ::dup2(pipe_ends[1], STDERR_FILENO);
    watch_collectives(timeout_s, "parallel.timeout_s");
    body();
    ::_exit(0);
  }
  ::close(pipe_ends[1]);
  during(pid);
  Ended ended;
  char buffer[512];
  for (ssize_t n; (n = ::read(pipe_ends[0], buffer, sizeof buffer)) > 0;) ended.stderr.append(buffer, n);
  ::close(pipe_ends[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ended.code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  return ended;
}

template <class Body>
Ended in_watched_child(double timeout_s, Body body) {
  return in_watched_child(timeout_s, body, [](pid_t) {});
}

// A collective on group that lasts `seconds`.
void collective(WatchedGroup& group, double seconds) {
  const WatchedCollective mark("allreduce", group);
  sleep_s(seconds);
}

}  // namespace

TEST_CASE("collective watchdog: a collective past the deadline ends the process with one line naming it") {
  const Ended ended = in_watched_child(0.4, [] {
    WatchedGroup group{"dp (2 ranks)"};
    collective(group, 0.01);
    collective(group, 30);
  });
  CHECK(ended.code == 1);
  CHECK_MESSAGE(ended.stderr.rfind("error: rank 0: waited ", 0) == 0, ended.stderr);
  CHECK_MESSAGE(ended.stderr.find(" in allreduce #2 on group dp (2 ranks) ") != std::string::npos, ended.stderr);
  CHECK_MESSAGE(ended.stderr.find("parallel.timeout_s = 0.4 s") != std::string::npos, ended.stderr);
  CHECK(ended.stderr.find('\n') == ended.stderr.size() - 1);
}

TEST_CASE("collective watchdog: a wait marked inside a collective leaves the collective watched once it ends") {
  // A device wait inside a host collective (or the reverse): the inner mark ends, and the outer collective, which
  // then hangs, must still reach its deadline.
  const Ended ended = in_watched_child(0.4, [] {
    WatchedGroup outer_group{"dp (2 ranks)"}, inner_group{"device (the collectives queued on it)"};
    const WatchedCollective outer("allreduce", outer_group);
    {
      const WatchedCollective inner("device wait", inner_group);
      sleep_s(0.05);
    }
    sleep_s(5);
  });
  CHECK(ended.code == 1);
  CHECK_MESSAGE(ended.stderr.find(" in allreduce #1 on group dp (2 ranks) ") != std::string::npos, ended.stderr);
}

TEST_CASE("collective watchdog: collectives within the deadline, however many, and untimed waits pass") {
  const Ended ended = in_watched_child(0.4, [] {
    WatchedGroup group{"world (2 ranks)"};
    for (int i = 0; i < 40; ++i) collective(group, 0.05);  // 2 s in collectives, 0.05 s each
    const UntimedWaits lead_work(true);
    collective(group, 1.5);
  });
  CHECK_MESSAGE(ended.code == 0, ended.stderr);
  CHECK(ended.stderr.empty());
}

TEST_CASE("collective watchdog: time a process spends stopped does not count as waiting") {
  // The child sits 3 s in a collective with a deadline of 2 s, 2.5 s of them stopped by SIGSTOP: a stopped rank
  // whose peers wait for it must not, once continued, claim the timeout it caused.
  const Ended ended = in_watched_child(
      2.0, [] {
        WatchedGroup group{"dp (2 ranks)"};
        collective(group, 3.0);
      },
      [](pid_t child) {
        sleep_s(0.2);
        ::kill(child, SIGSTOP);
        sleep_s(2.5);
        ::kill(child, SIGCONT);
      });
  CHECK_MESSAGE(ended.code == 0, ended.stderr);
  CHECK_MESSAGE(ended.stderr.empty(), ended.stderr);
}
