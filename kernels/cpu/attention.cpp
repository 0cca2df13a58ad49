// CPU attention: forward parallel over (batch, head); backward parallel over (batch, KV head), which owns the
// gradients of its keys and values, so every sum runs in one thread in a fixed order.
#include "kernels/cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace diverge::cpu {

namespace {

// Index arithmetic for the (batch, seq, heads, head_dim) layouts.
struct Layout {
  const AttentionShape& s;
  std::int64_t q_row(std::int64_t b, std::int64_t t, std::int64_t h) const {
    return ((b * s.seq + t) * s.heads + h) * s.head_dim;
  }
  std::int64_t kv_row(std::int64_t b, std::int64_t t, std::int64_t g) const {
    return ((b * s.seq + t) * s.kv_heads + g) * s.head_dim;
  }
  std::int64_t lse_index(std::int64_t b, std::int64_t h, std::int64_t t) const { return (b * s.heads + h) * s.seq + t; }
  std::int64_t group_size() const { return s.heads / s.kv_heads; }
};

template <class T>
T dot(const T* a, const T* b, std::int64_t n) {
  T sum = 0;
  for (std::int64_t i = 0; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

template <class T>
T scale_of(const AttentionShape& s) {
  return T(1) / std::sqrt(static_cast<T>(s.head_dim));
}

// scores[j] = q_t . k_j * scale for the keys j <= t that query t may see.
template <class T>
void causal_scores(const Layout& at, const T* q, const T* k, std::int64_t b, std::int64_t t, std::int64_t h,
                   T* scores) {
  const std::int64_t g = h / at.group_size();
  const T* q_t = q + at.q_row(b, t, h);
  for (std::int64_t j = 0; j <= t; ++j) scores[j] = dot(q_t, k + at.kv_row(b, j, g), at.s.head_dim) * scale_of<T>(at.s);
}

}  // namespace

template <class T>
void attention_forward(const AttentionShape& s, const T* q, const T* k, const T* v, T* out, T* lse) {
  const Layout at{s};
#pragma omp parallel
  {
    std::vector<T> scores(static_cast<std::size_t>(s.seq));  // (seq), one score row at a time
#pragma omp for collapse(2) schedule(static)
    for (std::int64_t b = 0; b < s.batch; ++b) {
      for (std::int64_t h = 0; h < s.heads; ++h) {
        const std::int64_t g = h / at.group_size();
        for (std::int64_t t = 0; t < s.seq; ++t) {
          T* row = scores.data();
          causal_scores(at, q, k, b, t, h, row);
          const T max_score = *std::max_element(row, row + t + 1);
          T sum = 0;
          for (std::int64_t j = 0; j <= t; ++j) {
            row[j] = std::exp(row[j] - max_score);
            sum += row[j];
          }
          T* o = out + at.q_row(b, t, h);
          std::fill_n(o, s.head_dim, T(0));
          for (std::int64_t j = 0; j <= t; ++j) {
            const T p = row[j] / sum;
            const T* v_j = v + at.kv_row(b, j, g);
            for (std::int64_t d = 0; d < s.head_dim; ++d) o[d] += p * v_j[d];
          }
          lse[at.lse_index(b, h, t)] = max_score + std::log(sum);
        }
      }
    }
  }
}

template <class T>
void attention_backward(const AttentionShape& s, const T* q, const T* k, const T* v, const T* out, const T* lse,
                        const T* dout, T* dq, T* dk, T* dv) {
  const Layout at{s};
  const T scale = scale_of<T>(s);
#pragma omp parallel
  {
    std::vector<T> scores(static_cast<std::size_t>(s.seq));  // (seq)
#pragma omp for collapse(2) schedule(static)
    for (std::int64_t b = 0; b < s.batch; ++b) {
      for (std::int64_t g = 0; g < s.kv_heads; ++g) {
        for (std::int64_t t = 0; t < s.seq; ++t) {
          std::fill_n(dk + at.kv_row(b, t, g), s.head_dim, T(0));
          std::fill_n(dv + at.kv_row(b, t, g), s.head_dim, T(0));
        }
        for (std::int64_t h = g * at.group_size(); h < (g + 1) * at.group_size(); ++h) {
          for (std::int64_t t = 0; t < s.seq; ++t) {
            causal_scores(at, q, k, b, t, h, scores.data());
            const T* do_t = dout + at.q_row(b, t, h);
            const T* q_t = q + at.q_row(b, t, h);
            T* dq_t = dq + at.q_row(b, t, h);
            // sum_j p_j dp_j equals dout_t . out_t, the softmax backward's projection term.
            const T projection = dot(do_t, out + at.q_row(b, t, h), s.head_dim);
            std::fill_n(dq_t, s.head_dim, T(0));
            for (std::int64_t j = 0; j <= t; ++j) {
              const T p = std::exp(scores[j] - lse[at.lse_index(b, h, t)]);
              const T* k_j = k + at.kv_row(b, j, g);
              const T* v_j = v + at.kv_row(b, j, g);
              const T dscore = p * (dot(do_t, v_j, s.head_dim) - projection) * scale;
              T* dk_j = dk + at.kv_row(b, j, g);
              T* dv_j = dv + at.kv_row(b, j, g);
              for (std::int64_t d = 0; d < s.head_dim; ++d) {
                dq_t[d] += dscore * k_j[d];
                dk_j[d] += dscore * q_t[d];
                dv_j[d] += p * do_t[d];
              }
            }
          }
        }
      }
    }
  }
}

template void attention_forward<float>(const AttentionShape&, const float*, const float*, const float*, float*, float*);
template void attention_forward<double>(const AttentionShape&, const double*, const double*, const double*, double*,
                                        double*);
template void attention_backward<float>(const AttentionShape&, const float*, const float*, const float*, const float*,
                                        const float*, const float*, float*, float*, float*);
template void attention_backward<double>(const AttentionShape&, const double*, const double*, const double*,
                                         const double*, const double*, const double*, double*, double*, double*);

}  // namespace diverge::cpu
