// A loss the CUDA kernels write to one device float, read back for the ops that still return losses to the host.
#pragma once

#include "kernels/cuda/memory.h"
#include "kernels/cuda/scratch.h"

namespace diverge::cuda {

// Calls write(loss) with loss a device float and returns what it wrote. One float per call site, kept between
// calls; the kernels' own API stays device-resident, for when the training step keeps its losses on the device.
template <class Write>
float loss_to_host(Write write) {
  static Scratch slot("device loss");
  float* loss = slot.get<float>(1);
  write(loss);
  float host = 0.0f;
  copy_to_host(&host, loss, sizeof host);
  return host;
}

}  // namespace diverge::cuda
