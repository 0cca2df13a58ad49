// CUDA EDL: (a) the shared sequence means summed by domain, (b) one block computing the pairwise JSDs, the loss and
// dsums in double, (c) a warp per token for the softmax backward. Every sum runs in an order fixed by the shape.
#include "kernels/cuda/edl.h"

#include <cfloat>
#include <cmath>

#include "kernels/cuda/device_loss.h"
#include "kernels/cuda/divergence.h"
#include "kernels/cuda/memory.h"
#include "kernels/cuda/scratch.h"
#include "kernels/cuda/sequence_means.h"
#include "kernels/cuda/warp_reduce.h"

namespace diverge::cuda {
namespace {

constexpr int kLossThreads = 256;
constexpr int kLossWarps = kLossThreads / 32;
constexpr int kWarpsPerBlock = 8;
constexpr unsigned kMaxBlocks = 65535;

// What the CPU accepts as a sequence count: finite and >= 0 (NaN fails both comparisons).
__device__ inline bool is_count(float count) { return count >= 0.0f && count <= FLT_MAX; }

__device__ __forceinline__ bool is_present(const float* counts, std::int64_t j) { return counts[j] > 0.0f; }

// r_j[e] = sums_j[e] / counts_j, as the CPU divides.
__device__ __forceinline__ double domain_mean(const float* sums, const float* counts, std::int64_t experts,
                                              std::int64_t j, std::int64_t e) {
  return static_cast<double>(sums[j * experts + e]) / static_cast<double>(counts[j]);
}

// One block. Every thread scans the counts, so the validity and the pair count are uniform without a barrier.
// pair_jsd (M, M) holds the JSDs of present pairs in double for the loss and dsums.
__global__ void loss_kernel(const float* sums, const float* counts, std::int64_t labels, std::int64_t experts,
                            double eps, float* jsd, std::int32_t* present, float* dsums, float* loss,
                            bool accumulate, double* pair_jsd) {
  __shared__ double tree[kLossThreads];
  const float not_a_number = __int_as_float(0x7fc00000);
  bool valid = true;
  std::int64_t present_count = 0;
  for (std::int64_t j = 0; j < labels; ++j) {
    valid = valid && is_count(counts[j]);
    present_count += is_present(counts, j) ? 1 : 0;
  }
  for (std::int64_t j = threadIdx.x; j < labels && present != nullptr; j += kLossThreads)
    present[j] = is_present(counts, j) ? 1 : 0;
  if (!valid) {
    for (std::int64_t i = threadIdx.x; i < labels * labels; i += kLossThreads) jsd[i] = not_a_number;
    for (std::int64_t i = threadIdx.x; i < labels * experts && dsums != nullptr; i += kLossThreads)
      dsums[i] = not_a_number;
    if (threadIdx.x == 0) store_loss(loss, not_a_number, accumulate);
    return;
  }
  const double pairs = static_cast<double>(present_count * (present_count - 1) / 2);

  // A warp per matrix entry; entry (j, k) with j < k writes both halves, the others only their zeros.
  const int lane = static_cast<int>(threadIdx.x % 32);
  for (std::int64_t entry = threadIdx.x / 32; entry < labels * labels; entry += kLossWarps) {
    const std::int64_t j = entry / labels, k = entry % labels;
    if (j == k || !is_present(counts, j) || !is_present(counts, k)) {
      if (lane == 0) jsd[entry] = 0.0f;
      continue;
    }
    if (j > k) continue;
    double part = 0.0;
    for (std::int64_t e = lane; e < experts; e += 32) {
      const double rj = domain_mean(sums, counts, experts, j, e), rk = domain_mean(sums, counts, experts, k, e);
      part += rj * jsd_gradient(rj, rk) + rk * jsd_gradient(rk, rj);
    }
    const double divergence = warp_sum(part);
    if (lane == 0) {
      pair_jsd[j * labels + k] = pair_jsd[k * labels + j] = divergence;
      jsd[j * labels + k] = jsd[k * labels + j] = static_cast<float>(divergence);
    }
  }
  __syncthreads();

  // Each thread the pairs of its rows, then a tree over the block.
  double part = 0.0;
  for (std::int64_t j = threadIdx.x; j < labels; j += kLossThreads) {
    if (!is_present(counts, j)) continue;
    for (std::int64_t k = j + 1; k < labels; ++k)
      if (is_present(counts, k)) part -= log(pair_jsd[j * labels + k] + eps);
  }
  tree[threadIdx.x] = part;
  __syncthreads();
  for (int half = kLossThreads / 2; half > 0; half /= 2) {
    if (static_cast<int>(threadIdx.x) < half) tree[threadIdx.x] += tree[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) store_loss(loss, pairs > 0.0 ? static_cast<float>(tree[0] / pairs) : 0.0f, accumulate);
  if (dsums == nullptr) return;

  // dL/dr_j summed over the other present domains k in ascending order, as the CPU's pair loop adds them; then
  // dL/dsums_j = dL/dr_j / counts_j. Fewer than two domains present: no k, so 0.
  for (std::int64_t i = threadIdx.x; i < labels * experts; i += kLossThreads) {
    const std::int64_t j = i / experts, e = i % experts;
    if (!is_present(counts, j)) {
      dsums[i] = 0.0f;
      continue;
    }
    const double rj = domain_mean(sums, counts, experts, j, e);
    double gradient = 0.0;
    for (std::int64_t k = 0; k < labels; ++k) {
      if (k == j || !is_present(counts, k)) continue;
      const double dpair = -1.0 / (pairs * (pair_jsd[j * labels + k] + eps));
      gradient += dpair * jsd_gradient(rj, domain_mean(sums, counts, experts, k, e));
    }
    dsums[i] = static_cast<float>(gradient / static_cast<double>(counts[j]));
  }
}

// A warp per token row. An invalid sequence (targets < 0) gets NaN in every row.
__global__ void backward_kernel(const float* probs, const std::int32_t* mask, const std::int32_t* domains,
                                const std::int32_t* targets, std::int64_t rows, std::int64_t tokens,
                                std::int64_t experts, const float* dsums, float coef, float* dlogits) {
  const int lane = static_cast<int>(threadIdx.x % 32);
  const std::int64_t warps = static_cast<std::int64_t>(gridDim.x) * kWarpsPerBlock;
  for (std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32; row < rows;
       row += warps) {
    const std::int64_t s = row / tokens;
    const std::int32_t count = targets[s];
    float* out = dlogits + row * experts;
    if (count < 0) {
      for (std::int64_t e = lane; e < experts; e += 32) out[e] = __int_as_float(0x7fc00000);
      continue;
    }
    if (mask != nullptr && mask[row] == 0) continue;
    const float* g = dsums + static_cast<std::int64_t>(domains[s]) * experts;  // dL/dp_t up to 1 / |tok(s)|
    const float* p = probs + row * experts;
    float projection = 0.0f;
    for (std::int64_t e = lane; e < experts; e += 32) projection += g[e] * p[e];
    projection = warp_sum(projection);
    const float scale = coef / static_cast<float>(count);
    for (std::int64_t e = lane; e < experts; e += 32) out[e] += scale * p[e] * (g[e] - projection);
  }
}

}  // namespace

void edl_domain_sums(const cpu::SequenceShape& s, const float* probs, const std::int32_t* mask,
                     const std::int32_t* domains, float* sums, float* counts) {
  const SequenceMeans means = sequence_means(s, probs, mask, domains, false);
  domain_totals(s, means, domains, sums, counts, static_cast<float*>(nullptr));
}

void edl_loss_from_sums(const float* sums, const float* counts, std::int64_t labels, std::int64_t experts, float eps,
                        float* jsd, std::int32_t* present, float* dsums, float* loss, bool accumulate) {
  static Scratch scratch("edl pairwise JSDs");
  double* pair_jsd = scratch.get<double>(static_cast<std::size_t>(labels * labels));
  DIVERGE_LAUNCH(loss_kernel, dim3(1), dim3(kLossThreads), 0, sums, counts, labels, experts,
                 static_cast<double>(eps), jsd, present, dsums, loss, accumulate, pair_jsd);
}

void edl_backward(const cpu::SequenceShape& s, const float* probs, const std::int32_t* mask,
                  const std::int32_t* domains, const float* dsums, float coef, float* dlogits) {
  const std::int64_t rows = s.sequences * s.tokens;
  if (rows == 0) return;
  const std::int32_t* targets = sequence_targets(s, mask, domains);
  const std::int64_t blocks = (rows + kWarpsPerBlock - 1) / kWarpsPerBlock;
  DIVERGE_LAUNCH(backward_kernel, dim3(static_cast<unsigned>(blocks < kMaxBlocks ? blocks : kMaxBlocks)),
                 dim3(32 * kWarpsPerBlock), 0, probs, mask, domains, targets, rows, s.tokens, s.experts, dsums,
                 coef, dlogits);
}

}  // namespace diverge::cuda
