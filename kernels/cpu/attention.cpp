// CPU attention, tiled over query blocks so the score products run as BLAS GEMMs on strided head views. The
// forward runs in parallel over (batch, head); the backward over (batch, KV head), which owns the gradients of
// its keys and values. Every task runs on one thread with a serial BLAS, so results do not depend on thread count.
#include "kernels/cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/exp.h"
#include "kernels/cpu/matmul.h"

namespace diverge::cpu {

namespace {

// Query rows per tile: a tile's scores are (kQueryBlock, keys up to the tile's end), so scratch stays O(T) per
// thread while the causal half above the diagonal is skipped block by block.
constexpr std::int64_t kQueryBlock = 64;

// Strided views of one (batch, head) slice: row t of head h sits at base + t * stride.
template <class T>
struct HeadView {
  T* base;
  std::int64_t stride;
  T* row(std::int64_t t) const { return base + t * stride; }
};

template <class T>
HeadView<T> query_head(const AttentionShape& s, T* x, std::int64_t b, std::int64_t h) {
  return {x + (b * s.seq * s.heads + h) * s.head_dim, s.heads * s.head_dim};
}

template <class T>
HeadView<T> kv_head(const AttentionShape& s, T* x, std::int64_t b, std::int64_t g) {
  return {x + (b * s.seq * s.kv_heads + g) * s.head_dim, s.kv_heads * s.head_dim};
}

// One query tile: rows [begin, begin + rows) see keys [0, keys) with keys = begin + rows.
struct Tile {
  std::int64_t begin;
  std::int64_t rows;
  std::int64_t keys() const { return begin + rows; }
};

template <class T>
T scale_of(const AttentionShape& s) {
  return T(1) / std::sqrt(static_cast<T>(s.head_dim));
}

// scores (rows, keys) = q_tile k^T, unscaled.
template <class T>
void tile_scores(const AttentionShape& s, const Tile& tile, HeadView<const T> q, HeadView<const T> k, T* scores) {
  serial_gemm(GemmShape{tile.rows, tile.keys(), s.head_dim, false, true}, GemmStrides{q.stride, k.stride, tile.keys()},
              q.row(tile.begin), k.base, scores, false);
}

// Turns raw scores into causal probabilities in place and writes each row's logsumexp (of the scaled scores).
template <class T>
void causal_softmax_rows(const Tile& tile, T scale, T* scores, T* lse) {
  for (std::int64_t r = 0; r < tile.rows; ++r) {
    T* row = scores + r * tile.keys();
    const std::int64_t visible = tile.begin + r + 1;
    T max_score = row[0] * scale;
    for (std::int64_t j = 0; j < visible; ++j) max_score = std::max(max_score, row[j] * scale);
    T sum = 0;
#pragma omp simd reduction(+ : sum)
    for (std::int64_t j = 0; j < visible; ++j) {
      row[j] = exp_of(row[j] * scale - max_score);
      sum += row[j];
    }
    for (std::int64_t j = 0; j < visible; ++j) row[j] /= sum;
    std::fill(row + visible, row + tile.keys(), T(0));
    lse[tile.begin + r] = max_score + std::log(sum);
  }
}

// Recomputes the forward's probabilities from the saved logsumexp.
template <class T>
void probabilities_from_lse(const Tile& tile, T scale, const T* lse, T* scores) {
  for (std::int64_t r = 0; r < tile.rows; ++r) {
    T* row = scores + r * tile.keys();
    const std::int64_t visible = tile.begin + r + 1;
    for (std::int64_t j = 0; j < visible; ++j) row[j] = exp_of(row[j] * scale - lse[tile.begin + r]);
    std::fill(row + visible, row + tile.keys(), T(0));
  }
}

template <class T>
T dot(const T* a, const T* b, std::int64_t n) {
  T sum = 0;
  for (std::int64_t i = 0; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

// dprob (rows, keys) holds dout_tile v^T on entry and the score gradient on exit:
// dscore = p * (dprob - dout_t . out_t) * scale, where dout_t . out_t = sum_j p_j dprob_j is the softmax projection.
template <class T>
void score_gradients(const AttentionShape& s, const Tile& tile, T scale, const T* prob, HeadView<const T> out,
                     HeadView<const T> dout, T* dprob) {
  for (std::int64_t r = 0; r < tile.rows; ++r) {
    const std::int64_t t = tile.begin + r;
    const T projection = dot(dout.row(t), out.row(t), s.head_dim);
    const T* p = prob + r * tile.keys();
    T* ds = dprob + r * tile.keys();
    for (std::int64_t j = 0; j < tile.keys(); ++j) ds[j] = p[j] * (ds[j] - projection) * scale;
  }
}

Tile tile_at(const AttentionShape& s, std::int64_t begin) {
  return {begin, std::min(kQueryBlock, s.seq - begin)};
}

}  // namespace

template <class T>
void attention_forward(const AttentionShape& s, const T* q, const T* k, const T* v, T* out, T* lse) {
  const SerialBlasScope serial_blas;
  const std::int64_t group = s.heads / s.kv_heads;
  const T scale = scale_of<T>(s);
#pragma omp parallel
  {
    std::vector<T> scores(static_cast<std::size_t>(std::min(kQueryBlock, s.seq) * s.seq));  // (tile rows, keys)
#pragma omp for collapse(2) schedule(static)
    for (std::int64_t b = 0; b < s.batch; ++b) {
      for (std::int64_t h = 0; h < s.heads; ++h) {
        const HeadView<const T> q_h = query_head(s, q, b, h);
        const HeadView<const T> k_g = kv_head(s, k, b, h / group);
        const HeadView<const T> v_g = kv_head(s, v, b, h / group);
        const HeadView<T> out_h = query_head(s, out, b, h);
        T* lse_h = lse + (b * s.heads + h) * s.seq;  // (seq)
        for (std::int64_t begin = 0; begin < s.seq; begin += kQueryBlock) {
          const Tile tile = tile_at(s, begin);
          tile_scores(s, tile, q_h, k_g, scores.data());
          causal_softmax_rows(tile, scale, scores.data(), lse_h);
          // out_tile (rows, D) = p (rows, keys) @ v[0, keys) (keys, D)
          serial_gemm(GemmShape{tile.rows, s.head_dim, tile.keys(), false, false},
                      GemmStrides{tile.keys(), v_g.stride, out_h.stride}, scores.data(), v_g.base, out_h.row(begin),
                      false);
        }
      }
    }
  }
}

template <class T>
void attention_backward(const AttentionShape& s, const T* q, const T* k, const T* v, const T* out, const T* lse,
                        const T* dout, T* dq, T* dk, T* dv) {
  const SerialBlasScope serial_blas;
  const std::int64_t group = s.heads / s.kv_heads;
  const T scale = scale_of<T>(s);
#pragma omp parallel
  {
    const auto tile_size = static_cast<std::size_t>(std::min(kQueryBlock, s.seq) * s.seq);
    std::vector<T> prob(tile_size);   // (tile rows, keys)
    std::vector<T> dprob(tile_size);  // (tile rows, keys)
#pragma omp for collapse(2) schedule(static)
    for (std::int64_t b = 0; b < s.batch; ++b) {
      for (std::int64_t g = 0; g < s.kv_heads; ++g) {
        const HeadView<const T> k_g = kv_head(s, k, b, g);
        const HeadView<const T> v_g = kv_head(s, v, b, g);
        const HeadView<T> dk_g = kv_head(s, dk, b, g);
        const HeadView<T> dv_g = kv_head(s, dv, b, g);
        for (std::int64_t t = 0; t < s.seq; ++t) {
          std::fill_n(dk_g.row(t), s.head_dim, T(0));
          std::fill_n(dv_g.row(t), s.head_dim, T(0));
        }
        for (std::int64_t h = g * group; h < (g + 1) * group; ++h) {
          const HeadView<const T> q_h = query_head(s, q, b, h);
          const HeadView<const T> out_h = query_head(s, out, b, h);
          const HeadView<const T> dout_h = query_head(s, dout, b, h);
          const HeadView<T> dq_h = query_head(s, dq, b, h);
          const T* lse_h = lse + (b * s.heads + h) * s.seq;  // (seq)
          for (std::int64_t begin = 0; begin < s.seq; begin += kQueryBlock) {
            const Tile tile = tile_at(s, begin);
            const std::int64_t keys = tile.keys();
            tile_scores(s, tile, q_h, k_g, prob.data());
            probabilities_from_lse(tile, scale, lse_h, prob.data());
            // dv[0, keys) (keys, D) += p^T (keys, rows) @ dout_tile (rows, D)
            serial_gemm(GemmShape{keys, s.head_dim, tile.rows, true, false},
                        GemmStrides{keys, dout_h.stride, dv_g.stride}, prob.data(), dout_h.row(begin), dv_g.base, true);
            // dprob (rows, keys) = dout_tile (rows, D) @ v[0, keys)^T
            serial_gemm(GemmShape{tile.rows, keys, s.head_dim, false, true},
                        GemmStrides{dout_h.stride, v_g.stride, keys}, dout_h.row(begin), v_g.base, dprob.data(), false);
            score_gradients(s, tile, scale, prob.data(), out_h, dout_h, dprob.data());
            // dq_tile (rows, D) = dscore (rows, keys) @ k[0, keys) (keys, D)
            serial_gemm(GemmShape{tile.rows, s.head_dim, keys, false, false},
                        GemmStrides{keys, k_g.stride, dq_h.stride}, dprob.data(), k_g.base, dq_h.row(begin), false);
            // dk[0, keys) (keys, D) += dscore^T (keys, rows) @ q_tile (rows, D)
            serial_gemm(GemmShape{keys, s.head_dim, tile.rows, true, false}, GemmStrides{keys, q_h.stride, dk_g.stride},
                        dprob.data(), q_h.row(begin), dk_g.base, true);
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
