// The block a worker thread is running: its threads as fibers, who may run next, its barrier and its warp rounds.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <random>
#include <source_location>
#include <string>
#include <vector>

#include "tests/emulator/cuda_emulator.h"
#include "tests/emulator/fiber.h"

namespace diverge::emu {

enum class ThreadState : std::uint8_t { runnable, at_barrier, in_warp, exited };

// One cp.async of a thread: its source read at issue, written to shared memory only when a wait completes it.
struct AsyncCopy {
  void* destination = nullptr;
  std::array<unsigned char, 16> bytes{};
  std::source_location where;
};

// One emulated CUDA thread.
struct EmuThread {
  explicit EmuThread(std::size_t stack_bytes) : fiber(stack_bytes) {}
  Fiber fiber;
  uint3 index{};        // threadIdx
  unsigned linear = 0;  // x + y * blockDim.x + z * blockDim.x * blockDim.y: lane = linear % 32
  ThreadState state = ThreadState::runnable;
  const char* waiting_at = "";  // the barrier or collective it waits at, and where
  std::source_location where;
  std::vector<AsyncCopy> open_copies;               // issued since its last cp.async.commit_group
  std::vector<std::vector<AsyncCopy>> copy_groups;  // committed and not yet waited for, oldest first
};

// Per-lane data a warp collective moves: up to 16 32-bit registers in and out (mma.m16n8k16 takes 10 in).
using LaneWords = std::array<std::uint32_t, 16>;

// One warp collective in flight: the lanes of `mask` deposit their inputs; when the last arrives, combine() fills
// every lane's output (or returns why it cannot: a lane read outside the mask) and the waiting lanes run again.
struct WarpRound {
  unsigned warp = 0;
  unsigned mask = 0;
  const char* name = "";  // "__shfl_sync", ...
  std::source_location where;
  int width = 32;         // must agree between the lanes (shuffles)
  unsigned arrived = 0;
  unsigned unread = 0;    // lanes that have not collected their output yet
  bool complete = false;
  std::string (*combine)(WarpRound&) = nullptr;
  std::array<LaneWords, 32> in{};
  std::array<LaneWords, 32> out{};
};

class Block {
 public:
  // The threads of block `block_linear` of the launch, each about to run body.
  void run(const LaunchInfo& info, const std::function<void()>& body, unsigned block_linear, std::uint64_t seed);

  EmuThread& current() { return *threads_[current_]; }
  // What every fiber of the block runs: the kernel body with this launch's arguments.
  void run_body();
  unsigned thread_count() const { return thread_count_; }
  EmuThread& thread(unsigned linear) { return *threads_[linear]; }
  void* dynamic_shared() { return shared_.data(); }

  // From a fiber: this thread waits (barrier, warp round) until something makes it runnable again.
  void wait(const char* what, std::source_location where, ThreadState state);
  void make_runnable(unsigned linear);
  // From a fiber: the kernel misused a barrier or collective. Records the message and unwinds this thread; the
  // scheduler then abandons the block and the launch throws.
  [[noreturn]] void fault(const std::string& what);
  void record_fault(const std::string& what);

  // The warp rounds in flight; new_round() reuses released ones, so a collective allocates nothing.
  const std::vector<WarpRound*>& rounds() const { return rounds_; }
  WarpRound& new_round();
  void release_round(WarpRound& round);
  const std::string& fault_message() const { return fault_; }

 private:
  void after_switch(EmuThread& thread);
  void complete_barrier();
  void thread_exited(EmuThread& thread);
  std::string describe_deadlock() const;
  std::string thread_label(const EmuThread& thread) const;
  std::string prefix() const;  // "kernel 'k' (launched at f:12), block (1,0,0): "

  const LaunchInfo* info_ = nullptr;
  const std::function<void()>* body_ = nullptr;
  std::vector<std::unique_ptr<EmuThread>> threads_;  // grown on demand, reused by the worker's next blocks
  std::vector<unsigned char> shared_;
  unsigned thread_count_ = 0;
  unsigned current_ = 0;
  unsigned live_ = 0;
  unsigned at_barrier_ = 0;
  std::vector<unsigned> runnable_;
  std::vector<WarpRound*> rounds_;
  std::vector<std::unique_ptr<WarpRound>> round_pool_;  // owns every round; rounds_ and free_rounds_ point into it
  std::vector<WarpRound*> free_rounds_;
  std::mt19937_64 rng_;
  std::string fault_;
};

// The block this worker thread is running.
Block& current_block();

// Runs one warp collective for the current thread: deposits `in`, waits for the other lanes of mask, returns this
// lane's output. Faults on a mask without the calling lane or with lanes the warp lacks or that have exited, and on
// lanes of one mask meeting at different collectives (name, source line or width).
LaneWords warp_collective(unsigned mask, const char* name, std::source_location where, int width, const LaneWords& in,
                          std::string (*combine)(WarpRound&));

std::string hex_mask(unsigned mask);
std::string site(std::source_location where);  // "file:line"
bool same_site(std::source_location a, std::source_location b);

}  // namespace diverge::emu
