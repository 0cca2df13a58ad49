// CUDA events recorded on the compute stream as time stamps, pooled so that a profiled step creates none after the
// first.
#include "kernels/cuda/stamps.h"

#include <string>
#include <vector>

#include "kernels/cuda/cuda_source.h"

namespace diverge::cuda {
namespace {

struct StampPool {
  std::vector<cudaEvent_t> events;
  std::size_t used = 0;

  ~StampPool() {
    for (cudaEvent_t event : events) cudaEventDestroy(event);
  }
};

StampPool& pool() {
  static StampPool instance;
  return instance;
}

}  // namespace

std::size_t stamp() {
  StampPool& p = pool();
  if (p.used == p.events.size()) {
    cudaEvent_t event = nullptr;
    check_cuda(cudaEventCreate(&event), "cuda::stamp", "creating an event");
    p.events.push_back(event);
  }
  check_cuda(cudaEventRecord(p.events[p.used], launch_stream()), "cuda::stamp", "recording an event");
  return p.used++;
}

double seconds_between_stamps(std::size_t from, std::size_t to) {
  StampPool& p = pool();
  check(from < to && to < p.used, "cuda::stamp", "no stamps " + std::to_string(from) + " to " + std::to_string(to));
  check_cuda(cudaEventSynchronize(p.events[to]), "cuda::stamp", "waiting for an event");
  float ms = 0.0f;
  check_cuda(cudaEventElapsedTime(&ms, p.events[from], p.events[to]), "cuda::stamp", "reading an event pair");
  return static_cast<double>(ms) / 1e3;
}

void reset_stamps() { pool().used = 0; }

}  // namespace diverge::cuda
