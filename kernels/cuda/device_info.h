// What the CUDA backend is: compiled in or not, which devices the runtime sees, and how often the host waited.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace diverge::cuda {

// True when the binary was built with the CUDA backend.
bool compiled_in();

// Number of CUDA devices visible at run time (0 without a driver, a GPU, or the backend).
int device_count();

// Bytes free on the current device (0 without one): what a run's memory plan must fit.
std::size_t free_memory();

// The name of device 0 ("NVIDIA H100 80GB HBM3"), or "" without one.
std::string device_name();

// How many times this process's host thread has waited for the device so far (each copy to the host is one):
// what a training step should keep to a handful, since every wait drains the GPU's queue of launches.
std::uint64_t host_waits();

// One human line: "CUDA backend: built with CUDA 13.0; 1 device (NVIDIA H100 80GB HBM3)" or "... not built".
std::string describe_backend();

}  // namespace diverge::cuda
