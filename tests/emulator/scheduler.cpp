// The emulator's scheduler: a grid's blocks over a pool of worker threads, a block's threads as fibers run in a
// seeded random order, __syncthreads, and the reports of misuse and deadlock.
#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "tests/emulator/block.h"

thread_local uint3 threadIdx;
thread_local uint3 blockIdx;
thread_local dim3 blockDim;
thread_local dim3 gridDim;

namespace diverge::emu {
namespace {

constexpr unsigned kMaxBlockThreads = 1024;
constexpr std::size_t kMaxSharedBytes = 227 * 1024;  // the most an H100 block may opt into

std::size_t env_or(const char* name, std::size_t fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? static_cast<std::size_t>(std::strtoull(value, nullptr, 0)) : fallback;
}

// Kernels keep small frames; AddressSanitizer's redzones make them a few times larger.
const std::size_t kStackBytes = env_or("DIVERGE_EMU_STACK_KB", 256) * 1024;

std::uint64_t splitmix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

std::string triple(unsigned x, unsigned y, unsigned z) {
  return "(" + std::to_string(x) + "," + std::to_string(y) + "," + std::to_string(z) + ")";
}

// Worker threads that take the blocks of a launch, plus the launching thread itself.
class WorkerPool {
 public:
  static WorkerPool& instance() {
    static WorkerPool pool(static_cast<unsigned>(
        env_or("DIVERGE_EMU_WORKERS", std::max(1u, std::thread::hardware_concurrency()))));
    return pool;
  }

  // Calls task(i) for every i in [0, count) until one returns false; returns when every call has finished.
  void run(unsigned count, const std::function<bool(unsigned)>& task) {
    {
      std::lock_guard lock(mutex_);
      task_ = &task;
      count_ = count;
      next_ = 0;
      stop_ = false;
      busy_ = static_cast<unsigned>(threads_.size());
      ++generation_;
    }
    wake_.notify_all();
    take_tasks();
    std::unique_lock lock(mutex_);
    done_.wait(lock, [&] { return busy_ == 0; });
    task_ = nullptr;
  }

  ~WorkerPool() {
    {
      std::lock_guard lock(mutex_);
      shutdown_ = true;
      ++generation_;
    }
    wake_.notify_all();
    for (auto& thread : threads_) thread.join();
  }

 private:
  explicit WorkerPool(unsigned workers) {
    for (unsigned i = 1; i < workers; ++i) threads_.emplace_back([this] { work(); });
  }

  void work() {
    std::uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [&] { return generation_ != seen; });
        seen = generation_;
        if (shutdown_) return;
      }
      take_tasks();
      std::lock_guard lock(mutex_);
      if (--busy_ == 0) done_.notify_all();
    }
  }

  void take_tasks() {
    for (;;) {
      const unsigned i = next_.fetch_add(1);
      if (i >= count_ || stop_.load()) return;
      if (!(*task_)(i)) stop_ = true;
    }
  }

  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  const std::function<bool(unsigned)>* task_ = nullptr;
  unsigned count_ = 0;
  std::atomic<unsigned> next_{0};
  std::atomic<bool> stop_{false};
  unsigned busy_ = 0;
  std::uint64_t generation_ = 0;
  bool shutdown_ = false;
};

void check_launch(const LaunchInfo& info) {
  const std::string what = std::string("launch of kernel '") + info.kernel + "' at " + info.file + ":" +
                           std::to_string(info.line) + ": ";
  const auto threads = static_cast<std::uint64_t>(info.block.x) * info.block.y * info.block.z;
  if (threads == 0 || threads > kMaxBlockThreads)
    throw std::runtime_error(what + std::to_string(threads) + " threads per block (1 to 1024 allowed)");
  if (info.grid.x == 0 || info.grid.y == 0 || info.grid.z == 0 || info.grid.y > 65535 || info.grid.z > 65535)
    throw std::runtime_error(what + "grid " + triple(info.grid.x, info.grid.y, info.grid.z) + " is not launchable");
  if (info.shared_bytes > kMaxSharedBytes)
    throw std::runtime_error(what + std::to_string(info.shared_bytes) + " bytes of dynamic shared memory (at most " +
                             std::to_string(kMaxSharedBytes) + ")");
}

// Thrown by Block::fault inside a fiber: unwinds the faulting thread's frames (its messages' strings included) back
// to thread_main, which hands control to the scheduler; the block is then abandoned.
struct FiberAbort {};

void thread_main(void*) {
  Block& block = current_block();
  try {
    block.run_body();
  } catch (const FiberAbort&) {
  } catch (const std::exception& e) {
    block.record_fault(std::string("the kernel threw: ") + e.what());
  }
  block.current().state = ThreadState::exited;
}

std::atomic<std::uint64_t> g_launches{0};
const std::uint64_t g_seed = env_or("DIVERGE_EMU_SEED", 0x5eed);

std::atomic<std::uint64_t> g_matmuls{0}, g_copies{0};

// With DIVERGE_EMU_LAUNCHES=1 the process reports what it asked of the device as it exits: the launches of a step,
// which a GPU pays for in host time and in gaps between kernels, counted without a GPU (two runs' difference).
struct LaunchReport {
  ~LaunchReport() {
    if (env_or("DIVERGE_EMU_LAUNCHES", 0) == 0) return;
    std::fprintf(stderr, "emulator: %llu kernel launches, %llu cuBLASLt matmuls, %llu copies and sets\n",
                 static_cast<unsigned long long>(g_launches.load()), static_cast<unsigned long long>(g_matmuls.load()),
                 static_cast<unsigned long long>(g_copies.load()));
  }
} g_launch_report;

}  // namespace

void count(Counted what) { (what == Counted::matmul ? g_matmuls : g_copies).fetch_add(1); }

std::string site(std::source_location where) {
  return std::string(where.file_name()) + ":" + std::to_string(where.line());
}

bool same_site(std::source_location a, std::source_location b) {
  // One source file's name is one string literal: the pointers match, and the comparison is the rare fallback.
  return a.line() == b.line() && a.column() == b.column() &&
         (a.file_name() == b.file_name() || std::string_view(a.file_name()) == b.file_name());
}

Block& current_block() {
  thread_local Block block;
  return block;
}

void Block::run(const LaunchInfo& info, const std::function<void()>& body, unsigned block_linear, std::uint64_t seed) {
  info_ = &info;
  body_ = &body;
  fault_.clear();
  for (WarpRound* round : rounds_) free_rounds_.push_back(round);
  rounds_.clear();
  runnable_.clear();
  const unsigned bx = info.block.x, by = info.block.y;
  thread_count_ = bx * by * info.block.z;
  while (threads_.size() < thread_count_) threads_.push_back(std::make_unique<EmuThread>(kStackBytes));
  blockIdx = {block_linear % info.grid.x, (block_linear / info.grid.x) % info.grid.y,
              block_linear / (info.grid.x * info.grid.y)};
  blockDim = info.block;
  gridDim = info.grid;
  shared_.assign(info.shared_bytes, 0xff);
  rng_.seed(seed);
  live_ = thread_count_;
  at_barrier_ = 0;
  for (unsigned i = 0; i < thread_count_; ++i) {
    EmuThread& thread = *threads_[i];
    thread.index = {i % bx, (i / bx) % by, i / (bx * by)};
    thread.linear = i;
    thread.state = ThreadState::runnable;
    thread.open_copies.clear();
    thread.copy_groups.clear();
    thread.fiber.start(&thread_main, nullptr);
    runnable_.push_back(i);
  }
  while (live_ > 0 && fault_.empty()) {
    if (runnable_.empty()) {
      fault_ = describe_deadlock();
      break;
    }
    const std::size_t pick = rng_() % runnable_.size();
    current_ = runnable_[pick];
    runnable_[pick] = runnable_.back();
    runnable_.pop_back();
    EmuThread& thread = *threads_[current_];
    threadIdx = thread.index;
    thread.fiber.resume();
    if (fault_.empty()) after_switch(thread);
  }
}

void Block::run_body() { (*body_)(); }

WarpRound& Block::new_round() {
  if (free_rounds_.empty()) {
    round_pool_.push_back(std::make_unique<WarpRound>());
    free_rounds_.push_back(round_pool_.back().get());
  }
  WarpRound* round = free_rounds_.back();
  free_rounds_.pop_back();
  round->arrived = 0;
  round->unread = 0;
  round->complete = false;
  rounds_.push_back(round);
  return *round;
}

void Block::release_round(WarpRound& round) {
  rounds_.erase(std::find(rounds_.begin(), rounds_.end(), &round));
  free_rounds_.push_back(&round);
}

void Block::after_switch(EmuThread& thread) {
  switch (thread.state) {
    case ThreadState::runnable: runnable_.push_back(thread.linear); break;
    case ThreadState::at_barrier:
      if (++at_barrier_ == live_) complete_barrier();
      break;
    case ThreadState::in_warp: break;
    case ThreadState::exited: thread_exited(thread); break;
  }
}

void Block::wait(const char* what, std::source_location where, ThreadState state) {
  EmuThread& thread = current();
  thread.state = state;
  thread.waiting_at = what;
  thread.where = where;
  thread.fiber.suspend();
}

void Block::make_runnable(unsigned linear) {
  threads_[linear]->state = ThreadState::runnable;
  runnable_.push_back(linear);
}

std::string Block::thread_label(const EmuThread& thread) const {
  return "thread " + triple(thread.index.x, thread.index.y, thread.index.z);
}

std::string Block::prefix() const {
  return std::string("kernel '") + info_->kernel + "' (launched at " + info_->file + ":" + std::to_string(info_->line) +
         "), block " + triple(blockIdx.x, blockIdx.y, blockIdx.z) + ": ";
}

void Block::record_fault(const std::string& what) { fault_ = prefix() + thread_label(current()) + ": " + what; }

void Block::fault(const std::string& what) {
  record_fault(what);
  throw FiberAbort{};
}

void Block::complete_barrier() {
  const EmuThread* first = nullptr;
  for (unsigned i = 0; i < thread_count_; ++i) {
    const EmuThread& thread = *threads_[i];
    if (thread.state != ThreadState::at_barrier) continue;
    if (first == nullptr) first = &thread;
    if (!same_site(thread.where, first->where)) {
      fault_ = prefix() + "threads wait at different __syncthreads: " + thread_label(*first) + " at " +
               site(first->where) + ", " + thread_label(thread) + " at " + site(thread.where);
      return;
    }
  }
  if (live_ < thread_count_) {
    for (unsigned i = 0; i < thread_count_; ++i)
      if (threads_[i]->state == ThreadState::exited) {
        fault_ = prefix() + "__syncthreads at " + site(first->where) + " reached by " + std::to_string(live_) + " of " +
                 std::to_string(thread_count_) + " threads: " + thread_label(*threads_[i]) + " had exited";
        return;
      }
  }
  at_barrier_ = 0;
  for (unsigned i = 0; i < thread_count_; ++i)
    if (threads_[i]->state == ThreadState::at_barrier) make_runnable(i);
}

void Block::thread_exited(EmuThread& thread) {
  --live_;
  const std::vector<AsyncCopy>& unwaited = thread.copy_groups.empty() ? thread.open_copies : thread.copy_groups[0];
  if (!unwaited.empty()) {
    fault_ = prefix() + thread_label(thread) + " exited with the cp.async at " + site(unwaited[0].where) +
             " never waited for (cp.async.wait_group)";
    return;
  }
  const unsigned warp = thread.linear / 32, lane_bit = 1u << (thread.linear % 32);
  for (const WarpRound* round : rounds_)
    if (round->warp == warp && !round->complete && (round->mask & lane_bit) != 0 && (round->arrived & lane_bit) == 0) {
      fault_ = prefix() + thread_label(thread) + " exited, but lane " + std::to_string(thread.linear % 32) +
               " is in the mask of " + round->name + " at " + site(round->where) + " that the warp's other lanes wait at";
      return;
    }
  if (at_barrier_ > 0 && at_barrier_ == live_) complete_barrier();
}

std::string Block::describe_deadlock() const {
  std::map<std::string, std::pair<unsigned, const EmuThread*>> waits;  // "what at where" -> count, first thread
  for (unsigned i = 0; i < thread_count_; ++i) {
    const EmuThread& thread = *threads_[i];
    if (thread.state == ThreadState::exited) continue;
    auto& entry = waits[std::string(thread.waiting_at) + " at " + site(thread.where)];
    if (entry.first++ == 0) entry.second = &thread;
  }
  std::string what = "deadlock: no thread can run;";
  for (const auto& [wait, entry] : waits)
    what += " " + std::to_string(entry.first) + " wait at " + wait + " (first: " + thread_label(*entry.second) + ");";
  return prefix() + what;
}

void launch(const LaunchInfo& info, const std::function<void()>& body) {
  check_launch(info);
  const std::uint64_t launch_number = g_launches.fetch_add(1);
  const unsigned blocks = info.grid.x * info.grid.y * info.grid.z;
  std::mutex fault_mutex;
  std::string fault;
  WorkerPool::instance().run(blocks, [&](unsigned block_linear) {
    Block& block = current_block();
    block.run(info, body, block_linear, splitmix(g_seed ^ splitmix(launch_number) ^ block_linear));
    if (block.fault_message().empty()) return true;
    std::lock_guard lock(fault_mutex);
    if (fault.empty()) fault = block.fault_message();
    return false;
  });
  if (!fault.empty())
    throw std::runtime_error("CUDA emulator: " + fault + " (schedule seed DIVERGE_EMU_SEED=" + std::to_string(g_seed) +
                             ", launch " + std::to_string(launch_number) + ")");
}

void barrier(std::source_location where) {
  current_block().wait("__syncthreads", where, ThreadState::at_barrier);
}

void* dynamic_shared() { return current_block().dynamic_shared(); }

}  // namespace diverge::emu
