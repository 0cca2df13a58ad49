// Stand-in for the CUDA backend's discovery functions in builds without CUDA (DIVERGE_CUDA=OFF or no nvcc).
#include "kernels/cuda/device_info.h"

namespace diverge::cuda {

bool compiled_in() { return false; }

int device_count() { return 0; }

std::size_t free_memory() { return 0; }

std::string device_name() { return ""; }

std::uint64_t host_waits() { return 0; }

std::string describe_backend() { return "CUDA backend: not built (configure with nvcc available or -DDIVERGE_CUDA=ON)"; }

}  // namespace diverge::cuda
