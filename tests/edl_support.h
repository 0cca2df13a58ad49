// Helpers for the EDL and routing-metric tests: a routed micro-batch in double and the three EDL steps run on it.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/cpu/edl.h"

namespace diverge::test {

// Router logits of S sequences of T tokens over E experts, with a token mask (empty = all) and domain ids in [0, M).
struct EdlBatch {
  cpu::SequenceShape shape;
  std::vector<double> logits;          // (S * T, E)
  std::vector<std::int32_t> mask;      // (S, T) or empty
  std::vector<std::int32_t> domains;   // (S)

  const std::int32_t* mask_data() const { return mask.empty() ? nullptr : mask.data(); }
};

// probs (rows, E) = softmax of each row of logits.
inline std::vector<double> softmax_rows(const std::vector<double>& logits, std::int64_t experts) {
  std::vector<double> probs(logits.size());
  const auto row_length = static_cast<std::size_t>(experts);
  for (std::size_t row = 0; row < logits.size(); row += row_length) {
    double sum = 0.0;
    for (std::size_t e = 0; e < row_length; ++e) sum += std::exp(logits[row + e]);
    for (std::size_t e = 0; e < row_length; ++e) probs[row + e] = std::exp(logits[row + e]) / sum;
  }
  return probs;
}

// What (a) and (b) produce for one batch.
struct EdlForward {
  double loss = 0.0;
  std::vector<double> sums;            // (M, E)
  std::vector<double> counts;          // (M)
  std::vector<double> jsd;             // (M, M)
  std::vector<std::int32_t> present;   // (M)
  std::vector<double> dsums;           // (M, E)
};

inline EdlForward edl_forward(const EdlBatch& b, double eps) {
  const auto m = static_cast<std::size_t>(b.shape.labels);
  const auto me = static_cast<std::size_t>(b.shape.labels * b.shape.experts);
  EdlForward f{0.0, std::vector<double>(me), std::vector<double>(m), std::vector<double>(m * m),
               std::vector<std::int32_t>(m), std::vector<double>(me)};
  const std::vector<double> probs = softmax_rows(b.logits, b.shape.experts);
  cpu::edl_domain_sums(b.shape, probs.data(), b.mask_data(), b.domains.data(), f.sums.data(), f.counts.data());
  f.loss = cpu::edl_loss_from_sums(f.sums.data(), f.counts.data(), b.shape.labels, b.shape.experts, eps, f.jsd.data(),
                                   f.present.data(), f.dsums.data());
  return f;
}

// dlogits (S * T, E) = coef * d loss / d logits, through (a) -> (b) -> (c).
inline std::vector<double> edl_gradient(const EdlBatch& b, double eps, double coef) {
  const EdlForward f = edl_forward(b, eps);
  const std::vector<double> probs = softmax_rows(b.logits, b.shape.experts);
  std::vector<double> dlogits(b.logits.size(), 0.0);
  cpu::edl_backward(b.shape, probs.data(), b.mask_data(), b.domains.data(), f.dsums.data(), coef, dlogits.data());
  return dlogits;
}

}  // namespace diverge::test
