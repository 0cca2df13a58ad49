// CUDA sequence means: target counts by block reduction of integers, token sums as fixed 64-token chunks of double
// partials added in chunk order, domain totals in sequence order; no float atomics, so every run gives the same bits.
#include "kernels/cuda/sequence_means.h"

#include "kernels/cuda/divergence.h"
#include "kernels/cuda/scratch.h"

namespace diverge::cuda {
namespace {

constexpr int kThreads = 128;
constexpr int kChunk = 64;      // tokens per partial sum: the summation order depends on the shape alone
constexpr int kColumns = 32;    // experts per block of the partial sums (one per lane: coalesced rows)
constexpr int kRowThreads = 8;  // rows of a chunk taken at once
constexpr unsigned kMaxBlocks = 65535;

unsigned capped(std::int64_t blocks) {
  return static_cast<unsigned>(blocks < kMaxBlocks ? (blocks > 0 ? blocks : 1) : kMaxBlocks);
}

std::int64_t chunks_per_sequence(const cpu::SequenceShape& s) { return (s.tokens + kChunk - 1) / kChunk; }

__global__ void targets_kernel(const std::int32_t* mask, const std::int32_t* domains, std::int64_t sequences,
                               std::int64_t tokens, std::int64_t labels, std::int32_t* targets) {
  __shared__ int count;
  __shared__ int bad;
  for (std::int64_t s = blockIdx.x; s < sequences; s += gridDim.x) {
    if (threadIdx.x == 0) count = bad = 0;
    __syncthreads();
    int local = 0, local_bad = 0;
    for (std::int64_t t = threadIdx.x; t < tokens; t += blockDim.x) {
      const std::int32_t m = mask == nullptr ? 1 : mask[s * tokens + t];
      local += m == 1 ? 1 : 0;
      local_bad += m == 0 || m == 1 ? 0 : 1;
    }
    atomicAdd(&count, local);
    atomicAdd(&bad, local_bad);
    __syncthreads();
    if (threadIdx.x == 0) {
      const std::int32_t domain = domains[s];
      targets[s] = bad == 0 && count > 0 && domain >= 0 && domain < labels ? count : -1;
    }
    __syncthreads();  // count and bad are reset for the next sequence only once thread 0 has read them
  }
}

// partial (S * chunks, E): column sums of the target-bearing rows of one chunk of one sequence, in double. Lanes
// take consecutive experts; the kRowThreads rows of a step are summed in row-thread order at the end.
__global__ void chunk_sums_kernel(const float* probs, const std::int32_t* mask, std::int64_t sequences,
                                  std::int64_t tokens, std::int64_t experts, std::int64_t chunks, double* partial) {
  __shared__ double rows[kRowThreads][kColumns];
  const std::int64_t e = static_cast<std::int64_t>(blockIdx.x) * kColumns + threadIdx.x;
  for (std::int64_t piece = blockIdx.y; piece < sequences * chunks; piece += gridDim.y) {
    const std::int64_t s = piece / chunks, begin = (piece % chunks) * kChunk;
    const std::int64_t end = begin + kChunk < tokens ? begin + kChunk : tokens;
    double sum = 0.0;
    for (std::int64_t t = begin + threadIdx.y; t < end && e < experts; t += kRowThreads) {
      const std::int64_t row = s * tokens + t;
      if (mask == nullptr || mask[row] == 1) sum += static_cast<double>(probs[row * experts + e]);
    }
    rows[threadIdx.y][threadIdx.x] = sum;
    __syncthreads();
    if (threadIdx.y == 0 && e < experts) {
      double total = 0.0;
      for (int r = 0; r < kRowThreads; ++r) total += rows[r][threadIdx.x];
      partial[piece * experts + e] = total;
    }
    __syncthreads();  // rows is overwritten by the next piece
  }
}

// q (S, E) = the chunk partials in chunk order / the target count, the CPU's multiplication by the reciprocal;
// q_log_q (S) by a tree over the block when not null.
__global__ void means_kernel(const double* partial, const std::int32_t* targets, std::int64_t sequences,
                             std::int64_t experts, std::int64_t chunks, double* q, double* q_log_q) {
  __shared__ double tree[kThreads];
  for (std::int64_t s = blockIdx.x; s < sequences; s += gridDim.x) {
    const double inverse = 1.0 / static_cast<double>(targets[s]);
    double entropy_part = 0.0;
    for (std::int64_t e = threadIdx.x; e < experts; e += kThreads) {
      double sum = 0.0;
      for (std::int64_t c = 0; c < chunks; ++c) sum += partial[(s * chunks + c) * experts + e];
      const double mean = sum * inverse;
      q[s * experts + e] = mean;
      entropy_part += mean * clamped_log(mean);
    }
    if (q_log_q == nullptr) continue;  // uniform over the block: no thread reaches the barriers below
    tree[threadIdx.x] = entropy_part;
    __syncthreads();
    for (int half = kThreads / 2; half > 0; half /= 2) {
      if (static_cast<int>(threadIdx.x) < half) tree[threadIdx.x] += tree[threadIdx.x + half];
      __syncthreads();
    }
    if (threadIdx.x == 0) q_log_q[s] = tree[0];
    __syncthreads();  // tree is overwritten by the next sequence
  }
}

// Block j sums domain j's sequences in sequence order; every thread scans the sequences for the count and for an
// invalid one, so no barrier is needed.
template <class T>
__global__ void domain_totals_kernel(const double* q, const double* q_log_q, const std::int32_t* targets,
                                     const std::int32_t* domains, std::int64_t sequences, std::int64_t experts,
                                     std::int64_t labels, T* sums, T* counts, T* log_sums) {
  const T not_a_number = static_cast<T>(__int_as_float(0x7fc00000));
  for (std::int64_t j = blockIdx.x; j < labels; j += gridDim.x) {
    bool invalid = false;
    std::int64_t count = 0;
    double log_sum = 0.0;
    for (std::int64_t s = 0; s < sequences; ++s) {
      if (targets[s] < 0) {
        invalid = true;
      } else if (domains[s] == j) {
        ++count;
        if (q_log_q != nullptr) log_sum += q_log_q[s];
      }
    }
    if (threadIdx.x == 0) {
      counts[j] = invalid ? not_a_number : static_cast<T>(count);
      if (log_sums != nullptr) log_sums[j] = invalid ? not_a_number : static_cast<T>(log_sum);
    }
    for (std::int64_t e = threadIdx.x; e < experts; e += blockDim.x) {
      double sum = 0.0;
      for (std::int64_t s = 0; s < sequences && !invalid; ++s)
        if (domains[s] == j) sum += q[s * experts + e];
      sums[j * experts + e] = invalid ? not_a_number : static_cast<T>(sum);
    }
  }
}

}  // namespace

const std::int32_t* sequence_targets(const cpu::SequenceShape& s, const std::int32_t* mask,
                                     const std::int32_t* domains) {
  static Scratch scratch("sequence target counts");
  auto* targets = scratch.get<std::int32_t>(static_cast<std::size_t>(s.sequences));
  DIVERGE_LAUNCH(targets_kernel, dim3(capped(s.sequences)), dim3(256), 0, mask, domains, s.sequences, s.tokens,
                 s.labels, targets);
  return targets;
}

SequenceMeans sequence_means(const cpu::SequenceShape& s, const float* probs, const std::int32_t* mask,
                             const std::int32_t* domains, bool with_q_log_q) {
  static Scratch scratch("sequence means");
  const std::int64_t chunks = chunks_per_sequence(s);
  const std::int64_t pieces = s.sequences * chunks;
  double* partial = scratch.get<double>(static_cast<std::size_t>(pieces * s.experts + s.sequences * (s.experts + 1)));
  double* q = partial + pieces * s.experts;
  double* q_log_q = with_q_log_q ? q + s.sequences * s.experts : nullptr;
  const std::int32_t* targets = sequence_targets(s, mask, domains);
  if (pieces > 0) {
    const auto column_blocks = static_cast<unsigned>((s.experts + kColumns - 1) / kColumns);
    DIVERGE_LAUNCH(chunk_sums_kernel, dim3(column_blocks, capped(pieces)), dim3(kColumns, kRowThreads), 0, probs,
                   mask, s.sequences, s.tokens, s.experts, chunks, partial);
  }
  DIVERGE_LAUNCH(means_kernel, dim3(capped(s.sequences)), dim3(kThreads), 0, partial, targets, s.sequences,
                 s.experts, chunks, q, q_log_q);
  return {targets, q, q_log_q};
}

template <class T>
void domain_totals(const cpu::SequenceShape& s, const SequenceMeans& means, const std::int32_t* domains, T* sums,
                   T* counts, T* log_sums) {
  const auto totals_kernel = domain_totals_kernel<T>;
  DIVERGE_LAUNCH(totals_kernel, dim3(capped(s.labels)), dim3(kThreads), 0, means.q, means.q_log_q,
                 means.targets, domains, s.sequences, s.experts, s.labels, sums, counts, log_sums);
}

template void domain_totals<float>(const cpu::SequenceShape&, const SequenceMeans&, const std::int32_t*, float*, float*,
                                   float*);
template void domain_totals<double>(const cpu::SequenceShape&, const SequenceMeans&, const std::int32_t*, double*,
                                    double*, double*);

}  // namespace diverge::cuda
