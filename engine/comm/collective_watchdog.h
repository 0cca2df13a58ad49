// The collective watchdog: one thread per process that ends every rank when a collective waits past its deadline.
#pragma once

#include <cstdint>
#include <string>

namespace diverge {

// A group as the watchdog names it in its message: its role and size, e.g. "dp (4 ranks)".
struct WatchedGroup {
  std::string label;
  std::int64_t collectives = 0;  // begun on this rank so far: the number of the one that waits
};

// Marks one collective while it lives: which operation, on which group, since when. The calling thread pays a
// clock read and a few atomic stores, nothing beside any collective; the watchdog thread reads them about once a
// second. Collectives are made from one thread (the training loop's), so one mark is watched at a time: a mark made
// inside another (a wait for the device inside a collective) is watched until it ends, then the outer one again.
class WatchedCollective {
 public:
  WatchedCollective(const char* op, WatchedGroup& group);
  ~WatchedCollective();
  WatchedCollective(const WatchedCollective&) = delete;
  WatchedCollective& operator=(const WatchedCollective&) = delete;

 private:
  bool timed_;
  // The mark this one hides while it lives (since_ns 0: none).
  const char* outer_op_ = nullptr;
  const WatchedGroup* outer_group_ = nullptr;
  std::int64_t outer_number_ = 0;
  std::int64_t outer_since_ns_ = 0;
};

// While one lives (and `active`), the collectives this process begins are not timed: this rank waits for another
// rank's own long work (rank 0 writing a checkpoint or evaluating), which no deadline per collective can bound.
// The rank doing the work is still timed in the same collective, so a waiting rank that hangs is still caught.
class UntimedWaits {
 public:
  explicit UntimedWaits(bool active);
  ~UntimedWaits();
  UntimedWaits(const UntimedWaits&) = delete;
  UntimedWaits& operator=(const UntimedWaits&) = delete;

 private:
  bool active_;
};

// Starts the watchdog thread (on the first call; later calls only change the deadline): a collective that lasts
// longer than timeout_s prints one line to stderr naming this rank, the collective, its group and the time waited,
// and `key`, the config key that sets the deadline; every other rank that waits in it says the same within a few
// seconds, and then every rank of the job ends (MPI_Abort, exit 1). timeout_s 0 watches nothing.
void watch_collectives(double timeout_s, const std::string& key);

// The line the watchdog prints when `op` on `group` has waited `waited_s` seconds past a deadline of timeout_s.
std::string collective_timeout_message(int rank, const char* op, const WatchedGroup& group, double waited_s,
                                       double timeout_s, const std::string& key);

}  // namespace diverge
