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

// tokens (M) = T * sequences (M): every token of a domain's sequences is routed.
__global__ void tokens_kernel(const double* sequences, std::int64_t labels, double tokens_per_sequence,
                              double* tokens) {
  for (std::int64_t j = threadIdx.x; j < labels; j += blockDim.x) tokens[j] = tokens_per_sequence * sequences[j];
}

// window (n) += batch (n); every value NaN when batch[n] counts a bad expert id (domain_totals already makes an
// invalid sequence's values NaN), so the window carries the fault to whoever reads it.
__global__ void accumulate_kernel(const double* batch, std::int64_t n, double* window) {
  const bool bad = batch[n] > 0.0;
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    window[i] = bad ? static_cast<double>(__int_as_float(0x7fc00000)) : window[i] + batch[i];
}

// One micro-batch's sums on the device in the window layout (cpu::window_parts), then the count of bad expert ids:
// window_size + 1 doubles of scratch. Without top-k choices, tokens and assignments are 0.
const double* batch_sums(const cpu::SequenceShape& s, const float* probs, const std::int32_t* mask,
                         const std::int32_t* domains, const std::int32_t* topk, std::int64_t top_k) {
  const std::int64_t m = s.labels, me = s.labels * s.experts, size = cpu::window_size(m, s.experts);
  static Scratch batch_scratch("routing sums of a micro-batch");
  auto* batch = batch_scratch.get<double>(static_cast<std::size_t>(size + 1));
  const cpu::RoutingSumsRef parts = cpu::window_parts(batch, m, s.experts);
  const SequenceMeans means = sequence_means(s, probs, mask, domains, true);
  domain_totals(s, means, domains, parts.q_sum, parts.sequences, parts.q_log_q);
  if (topk == nullptr) {
    zero(parts.tokens, static_cast<std::size_t>(m + me + 1) * sizeof(double));
    return batch;
  }
  DIVERGE_LAUNCH(tokens_kernel, dim3(1), dim3(kThreads), 0, parts.sequences, m, static_cast<double>(s.tokens),
                 parts.tokens);
  static Scratch count_scratch("routing assignment counts");
  auto* counts = count_scratch.get<std::int32_t>(static_cast<std::size_t>(me + 1));
  zero(counts, static_cast<std::size_t>(me + 1) * sizeof(std::int32_t));
  DIVERGE_LAUNCH(assignments_kernel, dim3(capped(s.sequences)), dim3(kThreads),
                 static_cast<std::size_t>(s.experts) * sizeof(std::int32_t), topk, domains, s.sequences,
                 s.tokens * top_k, s.experts, s.labels, counts, counts + me);
  DIVERGE_LAUNCH(widen_kernel, dim3(capped((me + 1 + kThreads - 1) / kThreads)), dim3(kThreads), 0, counts, me + 1,
                 parts.assignments);
  return batch;
}

}  // namespace

void routing_window_add(const cpu::SequenceShape& s, const float* probs, const std::int32_t* mask,
                        const std::int32_t* domains, const std::int32_t* topk, std::int64_t top_k, double* window) {
  const std::int64_t size = cpu::window_size(s.labels, s.experts);
  const double* batch = batch_sums(s, probs, mask, domains, topk, top_k);
  DIVERGE_LAUNCH(accumulate_kernel, dim3(capped((size + kThreads - 1) / kThreads)), dim3(kThreads), 0, batch, size,
                 window);
}

void routing_sums_add(const cpu::SequenceShape& s, const float* probs, const std::int32_t* mask,
                      const std::int32_t* domains, const std::int32_t* topk, std::int64_t top_k,
                      const cpu::RoutingSumsRef& out) {
  const std::int64_t m = s.labels, me = s.labels * s.experts, size = cpu::window_size(m, s.experts);
  std::vector<double> host(static_cast<std::size_t>(size + 1));
  copy_to_host(host.data(), batch_sums(s, probs, mask, domains, topk, top_k), host.size() * sizeof(double));
  // domain_totals makes every value NaN for an invalid sequence; the last value counts the bad expert ids.
  if (std::isnan(host[0]) || host.back() > 0.0) throw_invalid_batch(s, mask, domains, topk, top_k);
  const cpu::RoutingSumsRef batch = cpu::window_parts(host.data(), m, s.experts);
  for (std::int64_t j = 0; j < m; ++j) {
    out.sequences[j] += batch.sequences[j];
    out.q_log_q[j] += batch.q_log_q[j];
    out.tokens[j] += batch.tokens[j];
  }
  for (std::int64_t i = 0; i < me; ++i) {
    out.q_sum[i] += batch.q_sum[i];
    out.assignments[i] += batch.assignments[i];
  }
}

}  // namespace diverge::cuda
