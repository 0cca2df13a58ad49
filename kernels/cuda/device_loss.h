// How the CUDA loss kernels store their one value: written, or added to a sum that stays on the device.
#pragma once

#include "kernels/cuda/cuda_source.h"

namespace diverge::cuda {

// The caller reads the losses once per step, so a micro-batch's loss can be added to the previous ones' in place.
__device__ inline void store_loss(float* loss, float value, bool accumulate) {
  *loss = accumulate ? *loss + value : value;
}

}  // namespace diverge::cuda
