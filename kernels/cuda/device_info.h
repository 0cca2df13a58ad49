// What the CUDA backend is: compiled in or not, and which devices the runtime sees.
#pragma once

#include <cstddef>
#include <string>

namespace diverge::cuda {

// True when the binary was built with the CUDA backend.
bool compiled_in();

// Number of CUDA devices visible at run time (0 without a driver, a GPU, or the backend).
int device_count();

// Bytes free on the current device (0 without one): what a run's memory plan must fit.
std::size_t free_memory();

// One human line: "CUDA backend: built with CUDA 13.0; 1 device (NVIDIA H100 80GB HBM3)" or "... not built".
std::string describe_backend();

}  // namespace diverge::cuda
