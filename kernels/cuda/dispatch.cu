// CUDA dispatch/combine: the plan from the stable key sort; every output value is written by one thread (or one
// warp) that sums its terms in a fixed order, so no two threads ever add into one value.
#include "kernels/cuda/dispatch.h"

#include <string>

#include "kernels/cuda/bf16.h"
#include "kernels/cuda/grid.h"
#include "kernels/cuda/memory.h"
#include "kernels/cuda/scratch.h"
#include "kernels/cuda/stable_sort.h"
#include "kernels/cuda/warp_reduce.h"

namespace diverge::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kWarpsPerBlock = kThreads / 32;
constexpr std::int64_t kMaxExperts = std::int64_t{1} << 24;  // the key sort's three 8-bit passes
constexpr std::int64_t kMaxCopies = 0x7fffffff;               // rows are i32

// flag = copies - (the lowest copy whose expert is outside [0, experts)), or the 0 it starts at when there is none.
// An integer maximum does not depend on the order the threads arrive in, so the report names the copy the CPU's
// first-to-last scan names.
__global__ void bad_copy_flag_kernel(const std::int32_t* topk, std::int64_t copies, std::int64_t experts,
                                     std::int32_t* flag) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t c = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < copies; c += stride)
    if (topk[c] < 0 || topk[c] >= experts) atomicMax(flag, static_cast<std::int32_t>(copies - c));
}

// The sort gives copy_of_row and offsets; row_of_copy is its inverse permutation and counts the offsets' steps.
__global__ void finish_plan_kernel(const std::int32_t* copy_of_row, const std::int32_t* offsets, std::int64_t copies,
                                   std::int64_t experts, std::int32_t* counts, std::int32_t* row_of_copy) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < copies || i < experts;
       i += stride) {
    if (i < copies) row_of_copy[copy_of_row[i]] = static_cast<std::int32_t>(i);
    if (i < experts) counts[i] = offsets[i + 1] - offsets[i];
  }
}

__global__ void gather_rows_kernel(const std::int32_t* copy_of_row, std::int64_t rows, std::int64_t top_k,
                                   const bf16_bits* x, std::int64_t dim, bf16_bits* grouped) {
  const std::int64_t total = rows * dim;
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t e = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    const std::int64_t r = e / dim, c = e % dim;
    grouped[e] = x[(copy_of_row[r] / top_k) * dim + c];
  }
}

// out (tokens, dim) [t][c] = sum over j in order of w_j * rows[row_of_copy[t * top_k + j]][c] in fp32, with w_j the
// gate, or 1 where gates is null: 1 * v is exact and so is a fused 1 * v + sum, which leaves the plain sum.
__global__ void sum_copies_kernel(const std::int32_t* row_of_copy, std::int64_t tokens, std::int64_t top_k,
                                  const bf16_bits* rows, const float* gates, std::int64_t dim, bf16_bits* out,
                                  bool accumulate) {
  const std::int64_t total = tokens * dim;
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t e = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    const std::int64_t t = e / dim, c = e % dim;
    float sum = accumulate ? load_bf16(out + e) : 0.0f;
    for (std::int64_t j = 0; j < top_k; ++j) {
      const std::int64_t copy = t * top_k + j;
      const float weight = gates != nullptr ? gates[copy] : 1.0f;
      sum += weight * load_bf16(rows + static_cast<std::int64_t>(row_of_copy[copy]) * dim + c);
    }
    store_bf16(out + e, sum);
  }
}

// A warp per copy: it writes the copy's gradient row and reduces the gate's dot product by lane-strided partial sums
// and a fixed shuffle tree, so each dgate has one summation order, set by dim.
__global__ void combine_backward_kernel(const std::int32_t* row_of_copy, std::int64_t copies, std::int64_t top_k,
                                        const bf16_bits* dout, const bf16_bits* expert_out, const float* gates,
                                        std::int64_t dim, bf16_bits* dexpert_out, float* dgates) {
  const auto lane = static_cast<std::int64_t>(threadIdx.x % 32);
  const std::int64_t warps = static_cast<std::int64_t>(gridDim.x) * kWarpsPerBlock;
  // The loop's bounds are the same for a warp's lanes, so the shuffles below always see the full warp.
  for (std::int64_t copy = static_cast<std::int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32; copy < copies;
       copy += warps) {
    const std::int64_t row = row_of_copy[copy];
    const float gate = gates[copy];
    const bf16_bits* grad = dout + (copy / top_k) * dim;
    const bf16_bits* src = expert_out + row * dim;
    bf16_bits* dsrc = dexpert_out + row * dim;
    float dot = 0.0f;
    for (std::int64_t c = lane; c < dim; c += 32) {
      const float g = load_bf16(grad + c);
      dot += g * load_bf16(src + c);
      store_bf16(dsrc + c, gate * g);
    }
    dot = warp_sum(dot);
    if (lane == 0) dgates[copy] = dot;
  }
}

// Throws the CPU's Error when a copy's expert lies outside [0, experts): a flag kernel, then the wait to read it.
void check_experts(const std::int32_t* topk, std::int64_t copies, std::int64_t experts) {
  static Scratch scratch("route_plan validation flag");
  auto* flag = scratch.get<std::int32_t>(1);
  zero(flag, sizeof(std::int32_t));
  if (copies > 0)
    DIVERGE_LAUNCH(bad_copy_flag_kernel, grid_stride_blocks(copies, kThreads), dim3(kThreads), 0, topk, copies,
                   experts, flag);
  std::int32_t flag_value = 0;
  copy_to_host(&flag_value, flag, sizeof flag_value);
  if (flag_value == 0) return;
  const std::int64_t bad = copies - flag_value;
  std::int32_t expert = 0;
  copy_to_host(&expert, topk + bad, sizeof expert);
  throw Error("route_plan", "expert " + std::to_string(expert) + " at position " + std::to_string(bad) +
                                " is outside [0, " + std::to_string(experts) + ")");
}

}  // namespace

void route_plan(const std::int32_t* topk, std::int64_t tokens, std::int64_t top_k, std::int64_t experts,
                std::int32_t* counts, std::int32_t* offsets, std::int32_t* row_of_copy, std::int32_t* copy_of_row,
                bool read_back) {
  const std::int64_t copies = tokens * top_k;
  if (experts > kMaxExperts || copies > kMaxCopies)
    throw Error("route_plan", std::to_string(experts) + " experts and " + std::to_string(copies) +
                                  " copies: the CUDA plan takes at most 2^24 experts and 2^31 - 1 copies");
  // Before the sort, so that a refused plan is left untouched.
  if (read_back) check_experts(topk, copies, experts);
  stable_sort_by_key(topk, copies, static_cast<std::int32_t>(experts), copy_of_row, offsets);
  const std::int64_t items = copies > experts ? copies : experts;
  if (items > 0)
    DIVERGE_LAUNCH(finish_plan_kernel, grid_stride_blocks(items, kThreads), dim3(kThreads), 0, copy_of_row, offsets,
                   copies, experts, counts, row_of_copy);
}

void dispatch_forward(const std::int32_t* copy_of_row, std::int64_t tokens, std::int64_t top_k, const bf16_bits* x,
                      std::int64_t dim, bf16_bits* grouped) {
  const std::int64_t rows = tokens * top_k;
  if (rows * dim == 0) return;
  DIVERGE_LAUNCH(gather_rows_kernel, grid_stride_blocks(rows * dim, kThreads), dim3(kThreads), 0, copy_of_row, rows,
                 top_k, x, dim, grouped);
}

void dispatch_backward(const std::int32_t* row_of_copy, std::int64_t tokens, std::int64_t top_k,
                       const bf16_bits* dgrouped, std::int64_t dim, bf16_bits* dx, bool accumulate) {
  combine_forward(row_of_copy, tokens, top_k, dgrouped, nullptr, dim, dx, accumulate);
}

void combine_forward(const std::int32_t* row_of_copy, std::int64_t tokens, std::int64_t top_k,
                     const bf16_bits* expert_out, const float* gates, std::int64_t dim, bf16_bits* out,
                     bool accumulate) {
  if (tokens * dim == 0) return;
  DIVERGE_LAUNCH(sum_copies_kernel, grid_stride_blocks(tokens * dim, kThreads), dim3(kThreads), 0, row_of_copy,
                 tokens, top_k, expert_out, gates, dim, out, accumulate);
}

void combine_backward(const std::int32_t* row_of_copy, std::int64_t tokens, std::int64_t top_k, const bf16_bits* dout,
                      const bf16_bits* expert_out, const float* gates, std::int64_t dim, bf16_bits* dexpert_out,
                      float* dgates) {
  const std::int64_t copies = tokens * top_k;
  if (copies == 0) return;
  DIVERGE_LAUNCH(combine_backward_kernel, grid_stride_blocks(copies, kWarpsPerBlock), dim3(kThreads), 0, row_of_copy,
                 copies, top_k, dout, expert_out, gates, dim, dexpert_out, dgates);
}

}  // namespace diverge::cuda
