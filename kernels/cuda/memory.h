// Device memory through the CUDA runtime (host memory on the emulator): what engine/device_memory.cpp calls for
// Device::cuda, and the copies tests and the trainer make between host and device.
#pragma once

#include <cstddef>

namespace diverge::cuda {

// `bytes` of device memory (256-byte aligned); Error naming owner, the size and the free memory when the device
// is full, or saying how to build the backend when it is not built.
void* allocate(std::size_t bytes, const char* owner);
void release(void* pointer);
void zero(void* pointer, std::size_t bytes);
void copy_to_device(void* device, const void* host, std::size_t bytes);
void copy_to_host(void* host, const void* device, std::size_t bytes);
void copy_on_device(void* to, const void* from, std::size_t bytes);
// Waits until everything queued so far has run: for timing a whole step, never inside one.
void synchronize();

}  // namespace diverge::cuda
