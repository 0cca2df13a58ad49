// Sequence means of router probabilities: mask and domain validation, then one parallel pass over the sequences.
#include "kernels/cpu/sequence_means.h"

#include <string>

#include "engine/error.h"

namespace diverge::cpu {

std::vector<std::int64_t> target_counts(const char* op, const std::int32_t* mask, const SequenceShape& s) {
  std::vector<std::int64_t> counts(static_cast<std::size_t>(s.sequences), s.tokens);  // (S)
  if (mask == nullptr) {
    check(s.tokens > 0, op, "sequences have no tokens");
    return counts;
  }
  for (std::int64_t q = 0; q < s.sequences; ++q) {
    std::int64_t count = 0;
    for (std::int64_t t = 0; t < s.tokens; ++t) {
      const std::int32_t m = mask[q * s.tokens + t];
      if (m != 0 && m != 1)  // the message is built only on failure: this loop sees every token
        throw Error(op, "mask[" + std::to_string(q) + "][" + std::to_string(t) + "] is " + std::to_string(m) +
                            ", expected 0 or 1");
      count += m;
    }
    if (count == 0)
      throw Error(op, "mask: sequence " + std::to_string(q) +
                          " has no target-bearing token, so its routing mean is undefined");
    counts[static_cast<std::size_t>(q)] = count;
  }
  return counts;
}

void check_domains(const char* op, const std::int32_t* domains, const SequenceShape& s) {
  for (std::int64_t q = 0; q < s.sequences; ++q) {
    if (domains[q] >= 0 && domains[q] < s.labels) continue;
    throw Error(op, "domains[" + std::to_string(q) + "] is " + std::to_string(domains[q]) +
                        ", expected a domain id in [0, " + std::to_string(s.labels) + ")");
  }
}

template <class T>
std::vector<double> sequence_means(const T* probs, const std::int32_t* mask, const std::vector<std::int64_t>& counts,
                                   const SequenceShape& s) {
  std::vector<double> means(static_cast<std::size_t>(s.sequences * s.experts), 0.0);  // (S, E)
#pragma omp parallel for schedule(static)
  for (std::int64_t q = 0; q < s.sequences; ++q) {
    double* mean = means.data() + q * s.experts;
    for (std::int64_t t = 0; t < s.tokens; ++t) {
      if (mask != nullptr && mask[q * s.tokens + t] == 0) continue;
      const T* p = probs + (q * s.tokens + t) * s.experts;
      for (std::int64_t e = 0; e < s.experts; ++e) mean[e] += static_cast<double>(p[e]);
    }
    const double inverse = 1.0 / static_cast<double>(counts[static_cast<std::size_t>(q)]);
    for (std::int64_t e = 0; e < s.experts; ++e) mean[e] *= inverse;
  }
  return means;
}

template std::vector<double> sequence_means<float>(const float*, const std::int32_t*, const std::vector<std::int64_t>&,
                                                   const SequenceShape&);
template std::vector<double> sequence_means<double>(const double*, const std::int32_t*,
                                                    const std::vector<std::int64_t>&, const SequenceShape&);

}  // namespace diverge::cpu
