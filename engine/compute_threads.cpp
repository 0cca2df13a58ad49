// The CPU thread count of a run, applied to OpenMP and OpenBLAS together.
#include "engine/compute_threads.h"

#include <cblas.h>
#include <omp.h>

#include <thread>

namespace diverge {

int set_compute_threads(std::int64_t threads) {
  int count = threads > 0 ? static_cast<int>(threads) : static_cast<int>(std::thread::hardware_concurrency());
  if (count < 1) count = 1;
  omp_set_num_threads(count);
  openblas_set_num_threads(count);
  return count;
}

}  // namespace diverge
