// CPU RoPE: a cos/sin table per (position, frequency), then each head vector rotated pairwise (i, i + half).
#include "kernels/cpu/rope.h"

#include <cmath>
#include <vector>

namespace diverge::cpu {

namespace {

// Rotates every head vector by +angle (direction 1) or -angle (direction -1).
template <class T>
void rotate(const RopeShape& s, const T* in, T theta, T direction, T* out) {
  const std::int64_t half = s.head_dim / 2;
  std::vector<T> cos_table(static_cast<std::size_t>(s.seq * half));  // (seq, half)
  std::vector<T> sin_table(cos_table.size());                        // (seq, half)
  for (std::int64_t i = 0; i < half; ++i) {
    const T inv_freq = T(1) / std::pow(theta, static_cast<T>(2 * i) / static_cast<T>(s.head_dim));
    for (std::int64_t t = 0; t < s.seq; ++t) {
      const T angle = static_cast<T>(t) * inv_freq;
      cos_table[static_cast<std::size_t>(t * half + i)] = std::cos(angle);
      sin_table[static_cast<std::size_t>(t * half + i)] = direction * std::sin(angle);
    }
  }
#pragma omp parallel for collapse(2) schedule(static)
  for (std::int64_t b = 0; b < s.batch; ++b) {
    for (std::int64_t t = 0; t < s.seq; ++t) {
      const T* cos_t = cos_table.data() + t * half;
      const T* sin_t = sin_table.data() + t * half;
      for (std::int64_t h = 0; h < s.heads; ++h) {
        const std::int64_t base = ((b * s.seq + t) * s.heads + h) * s.head_dim;
        for (std::int64_t i = 0; i < half; ++i) {
          const T x1 = in[base + i];
          const T x2 = in[base + half + i];
          out[base + i] = x1 * cos_t[i] - x2 * sin_t[i];
          out[base + half + i] = x2 * cos_t[i] + x1 * sin_t[i];
        }
      }
    }
  }
}

}  // namespace

template <class T>
void rope_forward(const RopeShape& s, const T* x, T theta, T* out) {
  rotate(s, x, theta, T(1), out);
}

template <class T>
void rope_backward(const RopeShape& s, const T* dout, T theta, T* dx) {
  rotate(s, dout, theta, T(-1), dx);
}

template void rope_forward<float>(const RopeShape&, const float*, float, float*);
template void rope_forward<double>(const RopeShape&, const double*, double, double*);
template void rope_backward<float>(const RopeShape&, const float*, float, float*);
template void rope_backward<double>(const RopeShape&, const double*, double, double*);

}  // namespace diverge::cpu
