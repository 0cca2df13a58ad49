// CUDA expert feed-forward over expert-grouped rows: grouped tensor-core products that read the row offsets on the
// device, SwiGLU fused into their epilogues.
#pragma once

#include <cstdint>

#include "kernels/cuda/bf16_bits.h"
#include "kernels/expert_shape.h"

namespace diverge::cuda {

// For expert e, grouped rows [offsets[e], offsets[e + 1]) of the input x (rows, dim), read as ExpertInputPtrs says
// (a gather runs inside the products' loads), all bf16:
//   out = (silu(x W_gate[e]^T) * (x W_up[e]^T)) W_down[e]^T
// offsets (experts + 1) and copy_of_row are device memory, read by the kernels: the host never waits for them.
void expert_ffn_forward(const ExpertShape& s, const std::int32_t* offsets, ExpertInputPtrs<const bf16_bits> x,
                        ExpertWeightPtrs<const bf16_bits> w, ExpertSavedPtrs<bf16_bits> saved, bf16_bits* out);

// dx (rows, dim, bf16), the gradient of the grouped rows, is overwritten, summed over the gate and up paths in fp32
// and rounded once; the fp32 weight gradients dw are added to. dgate_work and dup_work (rows, hidden, bf16) are
// workspace.
void expert_ffn_backward(const ExpertShape& s, const std::int32_t* offsets, ExpertInputPtrs<const bf16_bits> x,
                         ExpertWeightPtrs<const bf16_bits> w, ExpertSavedPtrs<const bf16_bits> saved,
                         const bf16_bits* dout, bf16_bits* dx, ExpertWeightPtrs<float> dw, bf16_bits* dgate_work,
                         bf16_bits* dup_work);

}  // namespace diverge::cuda
