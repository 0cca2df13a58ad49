// The collective watchdog: the mark each collective leaves, the thread that reads it, and how it ends the job.
#include "engine/comm/collective_watchdog.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "engine/comm/world.h"

namespace diverge {
namespace {

using Clock = std::chrono::steady_clock;

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

// The live collective, written by the thread that makes collectives and read by the watchdog. since_ns is stored
// last and read first, so a reader that sees the same non-zero since_ns before and after reading the rest has read
// one collective's fields.
struct Mark {
  std::atomic<std::int64_t> since_ns{0};  // 0: in no timed collective
  std::atomic<const char*> op{nullptr};
  std::atomic<const WatchedGroup*> group{nullptr};
  std::atomic<std::int64_t> number{0};
};

Mark& live_mark() {
  static Mark mark;
  return mark;
}

void store_mark(const char* op, const WatchedGroup* group, std::int64_t number, std::int64_t since_ns) {
  Mark& mark = live_mark();
  mark.since_ns.store(0, std::memory_order_release);  // a reader between the stores sees no collective
  mark.op.store(op, std::memory_order_relaxed);
  mark.group.store(group, std::memory_order_relaxed);
  mark.number.store(number, std::memory_order_relaxed);
  mark.since_ns.store(since_ns, std::memory_order_release);
}

// Nesting depth of UntimedWaits; only the collective-making thread touches it.
int& untimed_depth() {
  static int depth = 0;
  return depth;
}

// How long a rank whose deadline passed waits before ending the job: the other ranks that arrived in the same
// collective reach their own deadlines within about their arrival skew, and each says so, so that the rank missing
// from the lines is seen to be the one that never arrived.
double grace_seconds(double timeout_s) { return std::min(5.0, timeout_s / 2); }

class Watchdog {
 public:
  void start(double timeout_s, const std::string& key) {
    const std::lock_guard lock(mutex_);
    timeout_s_ = timeout_s;
    key_ = key;
    if (!started_ && timeout_s > 0) {
      started_ = true;
      // Detached: it lives as long as the process, which it may end itself.
      std::thread([this] { watch(); }).detach();
    }
    wake_.notify_all();
  }

 private:
  void watch() {
    std::unique_lock lock(mutex_);
    std::int64_t last_poll = now_ns();
    for (;;) {
      // Polls a few times per deadline, at most once a second: the mark costs the collectives nothing.
      const double poll_s = timeout_s_ > 0 ? std::min(1.0, timeout_s_ / 4) : 1.0;
      wake_.wait_for(lock, std::chrono::duration<double>(poll_s));
      const std::int64_t now = now_ns();
      // A gap between polls longer than two periods means this process was stopped (SIGSTOP, a debugger, a
      // suspended machine) or starved: its own collective did not wait for the others meanwhile, so the gap
      // counts as two periods. Otherwise a stopped rank, once continued, would claim the timeout it caused.
      const double step_s = std::min(static_cast<double>(now - last_poll) * 1e-9, 2 * poll_s);
      last_poll = now;
      if (timeout_s_ > 0) check_live_collective(now, step_s, lock);
    }
  }

  void check_live_collective(std::int64_t now, double step_s, std::unique_lock<std::mutex>& lock) {
    Mark& mark = live_mark();
    const std::int64_t since = mark.since_ns.load(std::memory_order_acquire);
    if (since != watched_since_) {
      watched_since_ = since;
      waited_s_ = std::min(static_cast<double>(now - since) * 1e-9, step_s);
    } else {
      waited_s_ += step_s;
    }
    if (since == 0 || waited_s_ <= timeout_s_) return;
    const char* op = mark.op.load(std::memory_order_relaxed);
    const WatchedGroup* group = mark.group.load(std::memory_order_relaxed);
    const std::int64_t number = mark.number.load(std::memory_order_relaxed);
    if (mark.since_ns.load(std::memory_order_acquire) != since) return;
    const WatchedGroup named{group->label, number};
    const std::string line = collective_timeout_message(world_rank(), op, named, waited_s_, timeout_s_, key_);
    const double grace = grace_seconds(timeout_s_);
    lock.unlock();
    std::fprintf(stderr, "%s\n", line.c_str());
    std::fflush(stderr);
    std::this_thread::sleep_for(std::chrono::duration<double>(grace));
    // MPI_Abort from this thread while the main thread sits in a collective: the MPI libraries send it to the
    // launcher (PMIx / PMI abort), not through the communication layer the main thread holds, and the launcher
    // kills every rank, a stopped one included.
    abort_world(1);
    std::_Exit(1);
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  bool started_ = false;
  double timeout_s_ = 0;
  std::string key_;
  std::int64_t watched_since_ = 0;  // the start of the collective being watched (0: none)
  double waited_s_ = 0;             // how long this process has been seen running while in it
};

Watchdog& watchdog() {
  // Never destroyed: its detached thread may read it until the process ends.
  static Watchdog* instance = new Watchdog;
  return *instance;
}

std::string seconds_text(double s) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f s", s);
  return text;
}

std::string deadline_text(double s) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", s);
  return text;
}

}  // namespace

WatchedCollective::WatchedCollective(const char* op, WatchedGroup& group) : timed_(untimed_depth() == 0) {
  ++group.collectives;
  if (!timed_) return;
  Mark& mark = live_mark();
  outer_since_ns_ = mark.since_ns.load(std::memory_order_acquire);
  outer_op_ = mark.op.load(std::memory_order_relaxed);
  outer_group_ = mark.group.load(std::memory_order_relaxed);
  outer_number_ = mark.number.load(std::memory_order_relaxed);
  store_mark(op, &group, group.collectives, now_ns());
}

WatchedCollective::~WatchedCollective() {
  if (!timed_) return;
  if (outer_since_ns_ == 0) {
    live_mark().since_ns.store(0, std::memory_order_release);
    return;
  }
  store_mark(outer_op_, outer_group_, outer_number_, outer_since_ns_);
}

UntimedWaits::UntimedWaits(bool active) : active_(active) {
  if (active_) ++untimed_depth();
}

UntimedWaits::~UntimedWaits() {
  if (active_) --untimed_depth();
}

void watch_collectives(double timeout_s, const std::string& key) { watchdog().start(timeout_s, key); }

std::string collective_timeout_message(int rank, const char* op, const WatchedGroup& group, double waited_s,
                                       double timeout_s, const std::string& key) {
  return "error: rank " + std::to_string(rank) + ": waited " + seconds_text(waited_s) + " in " + op + " #" +
         std::to_string(group.collectives) + " on group " + group.label +
         " for another rank (hung, stopped or dead: each rank that waits prints this line, the one without it is "
         "the cause); ending every rank. The deadline is " + key + " = " + deadline_text(timeout_s) +
         " s: raise it if such a wait is legitimate";
}

}  // namespace diverge
