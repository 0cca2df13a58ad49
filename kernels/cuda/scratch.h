// Device scratch that lives between calls and grows on demand, so that a training step allocates nothing once warm.
#pragma once

#include <cstddef>

#include "kernels/cuda/memory.h"

namespace diverge::cuda {

// One per kernel family that needs a temporary (the partials of a deterministic reduction). The first steps grow it
// to its largest size; later calls reuse it. Not shared between threads: ops run on the host thread that trains.
class Scratch {
 public:
  explicit Scratch(const char* owner) : owner_(owner) {}
  ~Scratch() { release(data_); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;

  template <class T>
  T* get(std::size_t count) {
    const std::size_t bytes = count * sizeof(T);
    if (bytes > capacity_) {
      release(data_);
      data_ = allocate(bytes, owner_);
      capacity_ = bytes;
    }
    return static_cast<T*>(data_);
  }

 private:
  const char* owner_;
  void* data_ = nullptr;
  std::size_t capacity_ = 0;
};

}  // namespace diverge::cuda
