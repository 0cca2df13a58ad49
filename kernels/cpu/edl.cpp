// CPU Expert Divergence Loss: sums by domain in sequence order (deterministic), pairwise JSDs in double, and a
// backward pass that never materialises d loss / d probs.
#include "kernels/cpu/edl.h"

#include <cmath>
#include <string>
#include <vector>

#include "engine/error.h"
#include "kernels/cpu/divergence.h"

namespace diverge::cpu {

namespace {

constexpr const char* kSumsOp = "edl_domain_sums";
constexpr const char* kLossOp = "edl_loss_from_sums";
constexpr const char* kBackwardOp = "edl_backward";

// r (labels, experts) = sums_j / counts_j for present domains (rows of absent ones stay 0); present (labels) 0/1.
template <class T>
std::vector<double> domain_means(const T* sums, const T* counts, std::int64_t labels, std::int64_t experts,
                                 std::vector<std::int32_t>& present) {
  std::vector<double> means(static_cast<std::size_t>(labels * experts), 0.0);
  present.assign(static_cast<std::size_t>(labels), 0);
  for (std::int64_t j = 0; j < labels; ++j) {
    const double count = static_cast<double>(counts[j]);
    check(std::isfinite(count) && count >= 0.0, kLossOp,
          "counts[" + std::to_string(j) + "] is " + std::to_string(count) + ", expected a sequence count >= 0");
    if (count == 0.0) continue;
    present[static_cast<std::size_t>(j)] = 1;
    for (std::int64_t e = 0; e < experts; ++e)
      means[j * experts + e] = static_cast<double>(sums[j * experts + e]) / count;
  }
  return means;
}

}  // namespace

template <class T>
void edl_domain_sums(const SequenceShape& s, const T* probs, const std::int32_t* mask, const std::int32_t* domains,
                     T* sums, T* counts) {
  check_domains(kSumsOp, domains, s);
  const std::vector<double> means = sequence_means(probs, mask, target_counts(kSumsOp, mask, s), s);  // (S, E)
  std::vector<double> domain_sums(static_cast<std::size_t>(s.labels * s.experts), 0.0);             // (M, E)
  std::vector<std::int64_t> domain_counts(static_cast<std::size_t>(s.labels), 0);                   // (M)
  for (std::int64_t q = 0; q < s.sequences; ++q) {
    const std::int64_t j = domains[q];
    ++domain_counts[static_cast<std::size_t>(j)];
    for (std::int64_t e = 0; e < s.experts; ++e) domain_sums[j * s.experts + e] += means[q * s.experts + e];
  }
  for (std::int64_t j = 0; j < s.labels; ++j) {
    counts[j] = static_cast<T>(domain_counts[static_cast<std::size_t>(j)]);
    for (std::int64_t e = 0; e < s.experts; ++e)
      sums[j * s.experts + e] = static_cast<T>(domain_sums[j * s.experts + e]);
  }
}

template <class T>
T edl_loss_from_sums(const T* sums, const T* counts, std::int64_t labels, std::int64_t experts, double eps, T* jsd,
                     std::int32_t* present, T* dsums) {
  check(eps > 0.0, kLossOp, "eps is " + std::to_string(eps) + ", expected > 0");
  std::vector<std::int32_t> is_present;
  const std::vector<double> means = domain_means(sums, counts, labels, experts, is_present);  // (M, E)
  std::vector<std::int64_t> domains;  // the present domain ids, ascending
  for (std::int64_t j = 0; j < labels; ++j)
    if (is_present[static_cast<std::size_t>(j)] != 0) domains.push_back(j);

  std::vector<double> dmeans(static_cast<std::size_t>(labels * experts), 0.0);  // (M, E): dL / dr_j
  for (std::int64_t i = 0; i < labels * labels; ++i) jsd[i] = T(0);
  const auto present_count = static_cast<std::int64_t>(domains.size());
  const double pairs = static_cast<double>(present_count * (present_count - 1) / 2);
  double loss = 0.0;
  for (std::size_t a = 0; a < domains.size(); ++a) {
    for (std::size_t b = a + 1; b < domains.size(); ++b) {
      const std::int64_t j = domains[a], k = domains[b];
      const double* rj = means.data() + j * experts;
      const double* rk = means.data() + k * experts;
      const double divergence = jensen_shannon(rj, rk, experts);
      jsd[j * labels + k] = jsd[k * labels + j] = static_cast<T>(divergence);
      loss -= std::log(divergence + eps);
      const double dpair = -1.0 / (pairs * (divergence + eps));  // dL / dJSD_jk
      for (std::int64_t e = 0; e < experts; ++e) {
        dmeans[j * experts + e] += dpair * jsd_gradient(rj[e], rk[e]);
        dmeans[k * experts + e] += dpair * jsd_gradient(rk[e], rj[e]);
      }
    }
  }
  if (present != nullptr)
    for (std::int64_t j = 0; j < labels; ++j) present[j] = is_present[static_cast<std::size_t>(j)];
  if (dsums != nullptr) {
    // r_j = sums_j / counts_j, so dL / dsums_j = dL / dr_j / counts_j; absent rows keep their zeros.
    for (std::int64_t j = 0; j < labels; ++j) {
      const double count = static_cast<double>(counts[j]);
      for (std::int64_t e = 0; e < experts; ++e)
        dsums[j * experts + e] = count > 0.0 ? static_cast<T>(dmeans[j * experts + e] / count) : T(0);
    }
  }
  return pairs > 0.0 ? static_cast<T>(loss / pairs) : T(0);
}

template <class T>
void edl_backward(const SequenceShape& s, const T* probs, const std::int32_t* mask, const std::int32_t* domains,
                  const T* dsums, T coef, T* dlogits) {
  check_domains(kBackwardOp, domains, s);
  const std::vector<std::int64_t> counts = target_counts(kBackwardOp, mask, s);  // (S)
  const std::int64_t rows = s.sequences * s.tokens;
#pragma omp parallel for schedule(static)
  for (std::int64_t row = 0; row < rows; ++row) {
    if (mask != nullptr && mask[row] == 0) continue;
    const std::int64_t q = row / s.tokens;
    const T* g = dsums + static_cast<std::int64_t>(domains[q]) * s.experts;  // dL/dp_t up to 1 / |tok(s)|
    const T scale = coef / static_cast<T>(counts[static_cast<std::size_t>(q)]);
    const T* p = probs + row * s.experts;
    T projection = 0;
    for (std::int64_t e = 0; e < s.experts; ++e) projection += g[e] * p[e];
    for (std::int64_t e = 0; e < s.experts; ++e) dlogits[row * s.experts + e] += scale * p[e] * (g[e] - projection);
  }
}

template void edl_domain_sums<float>(const SequenceShape&, const float*, const std::int32_t*, const std::int32_t*,
                                     float*, float*);
template void edl_domain_sums<double>(const SequenceShape&, const double*, const std::int32_t*, const std::int32_t*,
                                      double*, double*);
template float edl_loss_from_sums<float>(const float*, const float*, std::int64_t, std::int64_t, double, float*,
                                         std::int32_t*, float*);
template double edl_loss_from_sums<double>(const double*, const double*, std::int64_t, std::int64_t, double, double*,
                                           std::int32_t*, double*);
template void edl_backward<float>(const SequenceShape&, const float*, const std::int32_t*, const std::int32_t*,
                                  const float*, float, float*);
template void edl_backward<double>(const SequenceShape&, const double*, const std::int32_t*, const std::int32_t*,
                                   const double*, double, double*);

}  // namespace diverge::cpu
