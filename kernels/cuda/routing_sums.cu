// CUDA routing-metric sums: the shared sequence means totalled by domain in double, top-k choices counted per
// (domain, expert) with integer atomics, and the whole micro-batch copied back once.
#include "kernels/cuda/routing_sums.h"

#include <cmath>
#include <vector>

#include "engine/error.h"
#include "kernels/cuda/cuda_source.h"
#include "kernels/cuda/memory.h"
#include "kernels/cuda/scratch.h"
#include "kernels/cuda/sequence_means.h"

namespace diverge::cuda {
namespace {

constexpr const char* kOp = "routing_sums_add";
constexpr int kThreads = 256;
constexpr unsigned kMaxBlocks = 65535;

unsigned capped(std::int64_t blocks) {
  return static_cast<unsigned>(blocks < kMaxBlocks ? (blocks > 0 ? blocks : 1) : kMaxBlocks);
}

// counts (M, E) += the sequence's top-k choices through a histogram in shared memory (E ints); bad counts the expert
// ids outside [0, E). Integers only: the totals do not depend on the order of the atomics.
__global__ void assignments_kernel(const std::int32_t* topk, const std::int32_t* domains, std::int64_t sequences,
                                   std::int64_t choices, std::int64_t experts, std::int64_t labels,
                                   std::int32_t* counts, std::int32_t* bad) {
  DIVERGE_DYNAMIC_SHARED(std::int32_t, local);
  for (std::int64_t s = blockIdx.x; s < sequences; s += gridDim.x) {
    for (std::int64_t e = threadIdx.x; e < experts; e += blockDim.x) local[e] = 0;
    __syncthreads();
    int outside = 0;
    for (std::int64_t c = threadIdx.x; c < choices; c += blockDim.x) {
      const std::int32_t expert = topk[s * choices + c];
      if (expert >= 0 && expert < experts)
        atomicAdd(&local[expert], 1);
      else
        ++outside;
    }
    if (outside > 0) atomicAdd(bad, outside);
    __syncthreads();
    const std::int32_t j = domains[s];
    for (std::int64_t e = threadIdx.x; e < experts && j >= 0 && j < labels; e += blockDim.x)
      if (local[e] != 0) atomicAdd(&counts[j * experts + e], local[e]);
    __syncthreads();  // local is cleared for the next sequence only once every thread has read it
  }
}

// into (n) = from (n) as doubles, so that the batch's sums cross to the host in one copy.
__global__ void widen_kernel(const std::int32_t* from, std::int64_t n, double* into) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    into[i] = static_cast<double>(from[i]);
}

// The device found the batch invalid: the CPU's checks, in the CPU's order, on host copies of the integer inputs
// name the first bad value exactly as they do for CPU tensors.
[[noreturn]] void throw_invalid_batch(const cpu::SequenceShape& s, const std::int32_t* mask,
                                      const std::int32_t* domains, const std::int32_t* topk, std::int64_t top_k) {
  auto host_copy = [](const std::int32_t* device, std::int64_t n) {
    std::vector<std::int32_t> host(static_cast<std::size_t>(n));
    copy_to_host(host.data(), device, host.size() * sizeof(std::int32_t));
    return host;
  };
  cpu::check_domains(kOp, host_copy(domains, s.sequences).data(), s);
  if (topk != nullptr) cpu::check_topk(s, host_copy(topk, s.sequences * s.tokens * top_k).data(), top_k);
  const std::vector<std::int32_t> host_mask =
      mask == nullptr ? std::vector<std::int32_t>{} : host_copy(mask, s.sequences * s.tokens);
  cpu::target_counts(kOp, mask == nullptr ? nullptr : host_mask.data(), s);
  throw Error(kOp, "the device found an invalid batch that the CPU's checks accept");
}

}  // namespace

void routing_sums_add(const cpu::SequenceShape& s, const float* probs, const std::int32_t* mask,
                      const std::int32_t* domains, const std::int32_t* topk, std::int64_t top_k,
                      const cpu::RoutingSumsRef& out) {
  const std::int64_t m = s.labels, me = s.labels * s.experts;
  // The batch's sums, one block of doubles: sequences (M), q_sum (M, E), q_log_q (M), then with top-k choices
  // assignments (M, E) and the count of bad expert ids.
  const std::int64_t values = 2 * m + me + (topk != nullptr ? me + 1 : 0);
  static Scratch batch_scratch("routing sums of a micro-batch");
  auto* batch = batch_scratch.get<double>(static_cast<std::size_t>(values));
  double* sequences = batch;
  double* q_sum = sequences + m;
  double* q_log_q = q_sum + me;
  const SequenceMeans means = sequence_means(s, probs, mask, domains, true);
  domain_totals(s, means, domains, q_sum, sequences, q_log_q);
  if (topk != nullptr) {
    static Scratch count_scratch("routing assignment counts");
    auto* counts = count_scratch.get<std::int32_t>(static_cast<std::size_t>(me + 1));
    zero(counts, static_cast<std::size_t>(me + 1) * sizeof(std::int32_t));
    DIVERGE_LAUNCH(assignments_kernel, dim3(capped(s.sequences)), dim3(kThreads),
                   static_cast<std::size_t>(s.experts) * sizeof(std::int32_t), topk, domains, s.sequences,
                   s.tokens * top_k, s.experts, s.labels, counts, counts + me);
    DIVERGE_LAUNCH(widen_kernel, dim3(capped((me + 1 + kThreads - 1) / kThreads)), dim3(kThreads), 0, counts,
                   me + 1, q_log_q + m);
  }
  std::vector<double> host(static_cast<std::size_t>(values));
  copy_to_host(host.data(), batch, host.size() * sizeof(double));

  const double* batch_sequences = host.data();
  const double* batch_q_sum = batch_sequences + m;
  const double* batch_q_log_q = batch_q_sum + me;
  const double* batch_assignments = batch_q_log_q + m;
  // domain_totals makes every value NaN for an invalid sequence; the last value counts the bad expert ids.
  if (std::isnan(batch_sequences[0]) || (topk != nullptr && host.back() > 0.0))
    throw_invalid_batch(s, mask, domains, topk, top_k);
  for (std::int64_t j = 0; j < m; ++j) {
    out.sequences[j] += batch_sequences[j];
    out.q_log_q[j] += batch_q_log_q[j];
    if (topk != nullptr) out.tokens[j] += static_cast<double>(s.tokens) * batch_sequences[j];
  }
  for (std::int64_t i = 0; i < me; ++i) {
    out.q_sum[i] += batch_q_sum[i];
    if (topk != nullptr) out.assignments[i] += batch_assignments[i];
  }
}

}  // namespace diverge::cuda
