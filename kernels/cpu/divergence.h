// Divergences between discrete distributions in double precision (KL, Jensen-Shannon, the JSD gradient), with the
// probability clamp that model/EDL.md fixes for every log.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace diverge::cpu {

// Probabilities below this are raised to it inside logs, so an expert a domain never uses gives a finite log.
constexpr double kLogClamp = 1e-12;

inline double clamped_log(double p) { return std::log(std::max(p, kLogClamp)); }

// sum_e p_e log p_e over p (n); 0 log 0 counts as 0.
inline double sum_p_log_p(const double* p, std::int64_t n) {
  double sum = 0.0;
  for (std::int64_t e = 0; e < n; ++e) sum += p[e] * clamped_log(p[e]);
  return sum;
}

// KL(p || q) = sum_e p_e log(p_e / q_e) over p, q (n).
inline double kl_divergence(const double* p, const double* q, std::int64_t n) {
  double sum = 0.0;
  for (std::int64_t e = 0; e < n; ++e) sum += p[e] * (clamped_log(p[e]) - clamped_log(q[e]));
  return sum;
}

// d JSD(p, q) / d p_e = 1/2 log(p_e / m_e) with m = (p + q) / 2 (the other terms of the derivative cancel).
inline double jsd_gradient(double p, double q) { return 0.5 * (clamped_log(p) - clamped_log(0.5 * (p + q))); }

// JSD(p, q) = 1/2 KL(p || m) + 1/2 KL(q || m), m = (p + q) / 2, over p, q (n): 0 for identical distributions, ln 2
// for disjoint supports.
inline double jensen_shannon(const double* p, const double* q, std::int64_t n) {
  double sum = 0.0;
  for (std::int64_t e = 0; e < n; ++e) sum += p[e] * jsd_gradient(p[e], q[e]) + q[e] * jsd_gradient(q[e], p[e]);
  return sum;
}

}  // namespace diverge::cpu
