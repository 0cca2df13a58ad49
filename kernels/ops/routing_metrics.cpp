// Routing metrics of a window from its sums (host maths in double): the divergence decomposition, the pairwise JSD
// of domain means, expert load and expert specialisation.
#include <algorithm>
#include <cmath>

#include "kernels/cpu/divergence.h"
#include "kernels/ops.h"

namespace diverge::ops {

namespace {

// r (M, E): each present domain's mean of q_s; rows of absent domains stay 0.
std::vector<double> domain_means(const RoutingSums& sums) {
  std::vector<double> means(sums.q_sum.size(), 0.0);
  for (std::int64_t j = 0; j < sums.labels; ++j) {
    const double count = sums.sequences[static_cast<std::size_t>(j)];
    if (count == 0.0) continue;
    for (std::int64_t e = 0; e < sums.experts; ++e)
      means[j * sums.experts + e] = sums.q_sum[j * sums.experts + e] / count;
  }
  return means;
}

// D_total = mean_s sum_e q_se log q_se - sum_e q_e log q_e, the expansion of mean_s KL(q_s || q) that sums allow;
// D_inter and D_intra likewise, so that their sum is D_total up to rounding.
void add_divergences(const RoutingSums& sums, const std::vector<double>& means, double total_sequences,
                     RoutingMetrics& m) {
  std::vector<double> mean(static_cast<std::size_t>(sums.experts), 0.0);  // (E): q
  for (std::int64_t j = 0; j < sums.labels; ++j)
    for (std::int64_t e = 0; e < sums.experts; ++e) mean[e] += sums.q_sum[j * sums.experts + e] / total_sequences;
  double q_log_q = 0.0;
  for (double v : sums.q_log_q) q_log_q += v;
  m.d_total = q_log_q / total_sequences - cpu::sum_p_log_p(mean.data(), sums.experts);
  for (std::int64_t j = 0; j < sums.labels; ++j) {
    const double count = sums.sequences[static_cast<std::size_t>(j)];
    if (count == 0.0) continue;
    const double weight = count / total_sequences;
    const double* r = means.data() + j * sums.experts;
    m.d_inter += weight * cpu::kl_divergence(r, mean.data(), sums.experts);
    m.d_intra += weight * (sums.q_log_q[static_cast<std::size_t>(j)] / count - cpu::sum_p_log_p(r, sums.experts));
  }
}

void add_pairwise_jsd(const RoutingSums& sums, const std::vector<double>& means, RoutingMetrics& m) {
  const std::int64_t labels = sums.labels;
  m.jsd.assign(static_cast<std::size_t>(labels * labels), 0.0);
  double total = 0.0;
  std::int64_t pairs = 0;
  for (std::int64_t j = 0; j < labels; ++j) {
    for (std::int64_t k = j + 1; k < labels; ++k) {
      if (m.present[static_cast<std::size_t>(j)] == 0 || m.present[static_cast<std::size_t>(k)] == 0) continue;
      const double divergence =
          cpu::jensen_shannon(means.data() + j * sums.experts, means.data() + k * sums.experts, sums.experts);
      m.jsd[static_cast<std::size_t>(j * labels + k)] = m.jsd[static_cast<std::size_t>(k * labels + j)] = divergence;
      total += divergence;
      ++pairs;
    }
  }
  m.jsd_mean = pairs > 0 ? total / static_cast<double>(pairs) : 0.0;
}

// Load per expert from the assignments of every domain; nothing to report when no top-k choice was added.
void add_load(const RoutingSums& sums, RoutingMetrics& m) {
  const auto experts = static_cast<std::size_t>(sums.experts);
  std::vector<double> load(experts, 0.0);  // (E)
  for (std::int64_t j = 0; j < sums.labels; ++j)
    for (std::int64_t e = 0; e < sums.experts; ++e)
      load[static_cast<std::size_t>(e)] += sums.assignments[j * sums.experts + e];
  double total = 0.0;
  for (double v : load) total += v;
  m.load_share.assign(experts, 0.0);
  if (total == 0.0) return;
  const double mean = total / static_cast<double>(experts);
  double variance = 0.0;
  for (std::size_t e = 0; e < experts; ++e) {
    m.load_share[e] = load[e] / total;
    variance += (load[e] - mean) * (load[e] - mean) / static_cast<double>(experts);
    if (load[e] == 0.0) ++m.dead_experts;
  }
  m.load_cv = std::sqrt(variance) / mean;
  m.load_max_over_mean = *std::max_element(load.begin(), load.end()) / mean;
}

// Expert e's share of domain j = its assignments from j per token of j, so that large domains do not look favoured;
// normalised over domains per expert.
void add_specialisation(const RoutingSums& sums, RoutingMetrics& m) {
  const std::int64_t labels = sums.labels;
  m.domain_share.assign(static_cast<std::size_t>(sums.experts * labels), 0.0);
  std::int64_t specialised = 0;
  for (std::int64_t e = 0; e < sums.experts; ++e) {
    double* share = m.domain_share.data() + e * labels;
    double total = 0.0;
    for (std::int64_t j = 0; j < labels; ++j) {
      const double volume = sums.tokens[static_cast<std::size_t>(j)];
      share[j] = volume > 0.0 ? sums.assignments[j * sums.experts + e] / volume : 0.0;
      total += share[j];
    }
    if (total == 0.0) continue;
    for (std::int64_t j = 0; j < labels; ++j) share[j] /= total;
    if (*std::max_element(share, share + labels) > 0.5) ++specialised;
  }
  m.specialised_fraction = static_cast<double>(specialised) / static_cast<double>(sums.experts);
}

}  // namespace

RoutingMetrics routing_metrics(const RoutingSums& sums) {
  RoutingMetrics m;
  m.present.assign(static_cast<std::size_t>(sums.labels), 0);
  double total_sequences = 0.0;
  for (std::int64_t j = 0; j < sums.labels; ++j) {
    const double count = sums.sequences[static_cast<std::size_t>(j)];
    m.present[static_cast<std::size_t>(j)] = count > 0.0 ? 1 : 0;
    total_sequences += count;
  }
  const std::vector<double> means = domain_means(sums);
  if (total_sequences > 0.0) add_divergences(sums, means, total_sequences, m);
  add_pairwise_jsd(sums, means, m);
  add_load(sums, m);
  add_specialisation(sums, m);
  return m;
}

}  // namespace diverge::ops
