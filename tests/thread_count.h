// Helpers for thread-count tests: a scoped compute thread count, and a computation's results on 1, 2 and 3 threads.
#pragma once

#include <omp.h>

#include <vector>

#include "engine/compute_threads.h"

namespace diverge::test {

// Sets the OpenMP and BLAS thread count (as train.threads does) for its lifetime.
class ThreadCount {
 public:
  explicit ThreadCount(int threads) : saved_(omp_get_max_threads()) { set_compute_threads(threads); }
  ~ThreadCount() { set_compute_threads(saved_); }
  ThreadCount(const ThreadCount&) = delete;
  ThreadCount& operator=(const ThreadCount&) = delete;

 private:
  int saved_;
};

// What f() returns on 1, 2 and 3 threads, in that order. Three threads split work unevenly where two split it
// evenly, whatever the machine's core count.
template <class F>
auto on_one_two_three_threads(F&& f) {
  std::vector<decltype(f())> results;
  for (int threads = 1; threads <= 3; ++threads) {
    const ThreadCount thread_count(threads);
    results.push_back(f());
  }
  return results;
}

}  // namespace diverge::test
