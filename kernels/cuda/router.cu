// CUDA router: a warp per token; top-k by k rounds of a warp arg-max over unique integer keys made from the logits;
// with its sums for the auxiliary losses, each row's logsumexp and each chunk's column sums of the probabilities it
// just wrote, so that the losses never read the (N, E) probabilities or logits again; the backward, with the losses'
// gradients, a warp per token; the forced-balance assignment, a thread per copy.
#include "kernels/cuda/router.h"

#include "kernels/cuda/grid.h"
#include "kernels/cuda/softmax_rows.h"

namespace diverge::cuda {
namespace {

// The experts are chosen on the logits, never on the rounded probabilities. The CPU reference does the same, and
// nothing else would let two devices agree to the bit: distinct logits can round to one probability (exp(-3e-8)
// rounds to 1), and where they do, the tie-break of equal probabilities would pick by rounding, which depends on
// the exp, on whether its polynomial was contracted into fused multiply-adds, and on the order of the row's sum.
// Both orders agree wherever the probabilities differ, since the softmax is increasing in the logit.
//
// One unique, nonzero key per expert orders them as the choice does: larger logits first, equal logits to the lower
// index. The logit's bits become an unsigned that orders as the floats do (-0 is made +0 first: the CPU compares
// them equal); the low half holds experts - index. A NaN logit orders by its bits, so the choice still names
// distinct experts (the row's probabilities are NaN on either device).
__device__ __forceinline__ unsigned long long choice_key(float logit, int expert, int experts) {
  const unsigned bits = __float_as_uint(logit + 0.0f);
  const unsigned ordered = (bits & 0x80000000u) != 0 ? ~bits : bits | 0x80000000u;
  return (static_cast<unsigned long long>(ordered) << 32) | static_cast<unsigned>(experts - expert);
}

__device__ __forceinline__ int expert_of_key(unsigned long long key, int experts) {
  return experts - static_cast<int>(key & 0xffffffffu);
}

__device__ __forceinline__ unsigned long long warp_max_key(unsigned long long key) {
  for (int offset = 16; offset > 0; offset /= 2) {
    const unsigned long long other = __shfl_xor_sync(kFullWarp, key, offset);
    key = other > key ? other : key;
  }
  return key;
}

// One token's row: probabilities, choice and gates; its logsumexp into lse when not null.
__device__ void route_row(const float* logits, std::int64_t row, int experts, int top_k, bool renormalize,
                          float* probs, std::int32_t* topk, float* gates, float* lse, int lane) {
  const float* z = logits + row * experts;
  float* p = probs + row * experts;
  const float max_logit = row_max(z, experts, lane);
  float sum = 0.0f;
  for (int c = lane; c < experts; c += 32) {
    p[c] = expf(z[c] - max_logit);
    sum += p[c];
  }
  sum = warp_sum(sum);
  for (int c = lane; c < experts; c += 32) p[c] /= sum;
  // row_logsumexp's value to the bit: the same max, exps and sum.
  if (lse != nullptr && lane == 0) lse[row] = max_logit + logf(sum);
  __syncwarp();  // the gates read probabilities other lanes wrote
  std::int32_t* chosen = topk + row * top_k;
  float* g = gates + row * top_k;
  // Round `slot` takes the largest key below the previous round's: the repeated arg-max of the CPU, without
  // marking the taken experts.
  unsigned long long previous = ~0ull;
  float chosen_sum = 0.0f;  // in slot order, as the CPU sums it
  for (int slot = 0; slot < top_k; ++slot) {
    unsigned long long best = 0;
    for (int c = lane; c < experts; c += 32) {
      const unsigned long long key = choice_key(z[c], c, experts);
      if (key < previous && key > best) best = key;
    }
    best = warp_max_key(best);
    const int expert = expert_of_key(best, experts);
    chosen_sum += p[expert];
    if (slot % 32 == lane) {
      chosen[slot] = expert;
      g[slot] = p[expert];
    }
    previous = best;
  }
  if (renormalize)
    for (int slot = lane; slot < top_k; slot += 32) g[slot] /= chosen_sum;  // the slots this lane wrote
}

// Warps of a forward block: 4 rows a warp in a chunk of 128, so that 16k tokens still spread over 4096 warps (a
// warp's row is a chain of shuffles and dependent loads: rows need warps at once, not one warp after another).
constexpr int kForwardWarps = 32;

// Block b routes chunk b of kRouterSumRows rows (the grid strides past kMaxGridBlocks chunks), a warp per row; then,
// with prob_sums, its threads sum the chunk's probabilities column by column, rows in order: the order of the
// shape alone, whatever the grid.
__global__ void router_forward_kernel(const float* logits, std::int64_t rows, std::int64_t chunks, int experts,
                                      int top_k, bool renormalize, float* probs, std::int32_t* topk, float* gates,
                                      float* prob_sums, float* lse) {
  const int lane = lane_id();
  for (std::int64_t chunk = blockIdx.x; chunk < chunks; chunk += gridDim.x) {
    const std::int64_t begin = chunk * kRouterSumRows;
    const std::int64_t end = begin + kRouterSumRows < rows ? begin + kRouterSumRows : rows;
    for (std::int64_t row = begin + threadIdx.x / 32; row < end; row += kForwardWarps)
      route_row(logits, row, experts, top_k, renormalize, probs, topk, gates, lse, lane);
    if (prob_sums == nullptr) continue;
    __syncthreads();  // the chunk's probabilities, written by every warp, are visible to the whole block
    for (int c = static_cast<int>(threadIdx.x); c < experts; c += static_cast<int>(blockDim.x)) {
      float column = 0.0f;
      for (std::int64_t row = begin; row < end; ++row) column += probs[row * experts + c];
      prob_sums[chunk * experts + c] = column;
    }
  }
}

static_assert(kRowWarps * 32 == kSumThreads, "the router backward's block sums the counts with block_sum");

// The load balance's d probs (dloss E / rows) f_e into balance (experts) in shared memory, f_e by the CPU's float
// division of the same integers (the same bits). Every thread of the block takes part.
__device__ void balance_grad(RouterAuxGradPtrs<float> aux, std::int64_t rows, int experts, float* balance) {
  long long total = 0;
  for (int e = static_cast<int>(threadIdx.x); e < experts; e += kSumThreads) total += aux.counts[e];
  total = block_sum(total);
  const float scale = aux.load_balance * static_cast<float>(experts) / static_cast<float>(rows);
  for (int e = static_cast<int>(threadIdx.x); e < experts; e += kSumThreads)
    balance[e] = scale * (static_cast<float>(aux.counts[e]) / static_cast<float>(total));
  __syncthreads();
}

// With renormalisation g_i = p_i / S, so d p_i = (dg_i - <dg, g>) / S, as the CPU reference; else d p_i = dg_i.
// These sparse terms join the dense d probs (dprobs and the load balance's): first the softmax backward of the dense
// part with the sparse terms' share of <dp, p> and the z-loss's shift, then each chosen expert's p_i * d p_i on top.
// One pass over dlogits for every gradient the router's logits take before the EDL's.
__global__ void router_backward_kernel(const float* probs, const std::int32_t* topk, const float* gates,
                                       const float* dgates, const float* dprobs, RouterAuxGradPtrs<float> aux,
                                       std::int64_t rows, int experts, int top_k, bool renormalize, bool accumulate,
                                       float* dlogits) {
  DIVERGE_DYNAMIC_SHARED(float, balance);  // (experts) when aux.counts
  if (aux.counts != nullptr) balance_grad(aux, rows, experts, balance);
  const float z_scale = aux.z * 2.0f / static_cast<float>(rows);
  const int lane = lane_id();
  for (std::int64_t row = first_row(); row < rows; row += row_stride()) {
    const float* p = probs + row * experts;
    const std::int32_t* chosen = topk + row * top_k;
    float* dl = dlogits + row * experts;
    bool invalid = false;
    float chosen_sum = 0.0f;
    float gate_projection = 0.0f;
    for (int slot = lane; dgates != nullptr && slot < top_k; slot += 32) {
      const int expert = chosen[slot];
      invalid = invalid || expert < 0 || expert >= experts;
      chosen_sum += invalid ? 0.0f : p[expert];
      gate_projection += dgates[row * top_k + slot] * gates[row * top_k + slot];
    }
    if (__any_sync(kFullWarp, invalid)) {
      for (int c = lane; c < experts; c += 32) dl[c] = __uint_as_float(0x7fc00000u);
      continue;
    }
    chosen_sum = warp_sum(chosen_sum);
    gate_projection = warp_sum(gate_projection);
    auto sparse_grad = [&](int slot) {
      const float dg = dgates[row * top_k + slot];
      return renormalize ? (dg - gate_projection) / chosen_sum : dg;
    };
    float sparse_projection = 0.0f;
    for (int slot = lane; dgates != nullptr && slot < top_k; slot += 32)
      sparse_projection += sparse_grad(slot) * p[chosen[slot]];
    const float* dense = dprobs == nullptr ? nullptr : dprobs + row * experts;
    const bool balancing = aux.counts != nullptr;
    const float z_shift = aux.lse == nullptr ? 0.0f : z_scale * aux.lse[row];
    softmax_backward_row(
        p, [&](int c) { return (dense == nullptr ? 0.0f : dense[c]) + (balancing ? balance[c] : 0.0f); },
        warp_sum(sparse_projection), z_shift, experts, lane, accumulate, dl);
    __syncwarp();  // the sparse terms add to values other lanes wrote
    for (int slot = lane; dgates != nullptr && slot < top_k; slot += 32)
      dl[chosen[slot]] += p[chosen[slot]] * sparse_grad(slot);
  }
}

constexpr int kBalanceThreads = 256;

// One thread per (token, choice) copy c = t * k + j, grid-stride.
__global__ void balanced_routing_kernel(std::int64_t copies, std::int64_t experts, std::int64_t top_k,
                                        std::int32_t* topk, float* gates) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t c = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < copies; c += stride) {
    topk[c] = static_cast<std::int32_t>(c % experts);
    gates[c] = 1.0f / static_cast<float>(top_k);
  }
}

}  // namespace

void router_forward(const float* logits, std::int64_t rows, std::int64_t experts, std::int64_t top_k,
                    bool renormalize, float* probs, std::int32_t* topk, float* gates, RouterSumPtrs<float> sums) {
  if (rows == 0) return;
  const std::int64_t chunks = router_sum_chunks(rows);
  DIVERGE_LAUNCH(router_forward_kernel, dim3(static_cast<unsigned>(chunks < kMaxGridBlocks ? chunks : kMaxGridBlocks)),
                 dim3(32 * kForwardWarps), 0, logits, rows, chunks, static_cast<int>(experts), static_cast<int>(top_k),
                 renormalize, probs, topk, gates, sums.prob_sums, sums.lse);
}

void router_backward(const float* probs, const std::int32_t* topk, const float* gates, const float* dgates,
                     const float* dprobs, RouterAuxGradPtrs<float> aux, std::int64_t rows, std::int64_t experts,
                     std::int64_t top_k, bool renormalize, bool accumulate, float* dlogits) {
  if (rows == 0) return;
  const std::size_t shared = aux.counts == nullptr ? 0 : static_cast<std::size_t>(experts) * sizeof(float);
  DIVERGE_LAUNCH(router_backward_kernel, row_grid(rows), row_block(), shared, probs, topk, gates, dgates, dprobs, aux,
                 rows, static_cast<int>(experts), static_cast<int>(top_k), renormalize, accumulate, dlogits);
}

void balanced_routing(std::int64_t rows, std::int64_t experts, std::int64_t top_k, std::int32_t* topk, float* gates) {
  const std::int64_t copies = rows * top_k;
  if (copies == 0) return;
  DIVERGE_LAUNCH(balanced_routing_kernel, grid_stride_blocks(copies, kBalanceThreads), dim3(kBalanceThreads), 0,
                 copies, experts, top_k, topk, gates);
}

}  // namespace diverge::cuda
