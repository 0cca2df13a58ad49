// CUDA attention: a flash-style forward (online softmax over key tiles staged in shared memory), and a backward that
// recomputes probabilities from the logsumexp, dq per query tile and dk, dv per key tile, with no atomics.
#include "kernels/cuda/attention.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <string>
#include <utility>

#include "kernels/cuda/attention_delta.h"
#include "kernels/cuda/attention_rows.h"
#include "kernels/cuda/bf16.h"
#include "kernels/cuda/warp_reduce.h"

namespace diverge::cuda {
namespace {

// Query rows and keys per tile. A warp gives one lane to each key (forward, dq) or query (dk, dv) of a tile, so a
// score row's tile is a warp's worth of values, reduced by shuffles or read back through shared memory.
constexpr int kTile = 32;
constexpr int kWarps = 4;
constexpr int kThreads = 32 * kWarps;
constexpr int kRowsPerWarp = kTile / kWarps;  // warp w owns tile rows w, w + kWarps, ...: partial tiles stay spread
// Tiles a lane reads row by row (row = lane) get two more bf16 per row: rows then start in different banks.
constexpr int kPad = 2;
constexpr int kMaxGridY = 65535;

template <int D>
constexpr int kDimsPerLane = (D + 31) / 32;  // lane owns dims lane, lane + 32, ... of an output row

template <int I>
struct Index {
  static constexpr int value = I;
};

template <class F, int... I>
__device__ __forceinline__ void for_each_index(const F& f, std::integer_sequence<int, I...>) {
  (f(Index<I>{}), ...);
}

// f(Index<0>{}), ..., f(Index<N - 1>{}): unrolled by construction, since the loops over a warp's rows and a lane's
// dims index register arrays, which a runtime index would move to local memory.
template <int N, class F>
__device__ __forceinline__ void for_each_index(const F& f) {
  for_each_index(f, std::make_integer_sequence<int, N>{});
}

// The first row of a query-tile block's tile: the last tiles, whose causal rows are longest, start first.
__device__ __forceinline__ std::int64_t query_tile_first() {
  return static_cast<std::int64_t>(gridDim.x - 1 - blockIdx.x) * kTile;
}

// Rows [first, first + kTile) of a head into a shared tile of `pitch` elements a row; rows past the sequence's end
// are zero, so that the masked lanes that read them multiply finite values by their zero weights.
template <int D>
__device__ void stage_rows(bf16_bits* tile, int pitch, const bf16_bits* x, HeadRows rows, std::int64_t first,
                           std::int64_t seq) {
  for (int e = static_cast<int>(threadIdx.x); e < kTile * D; e += kThreads) {
    const int r = e / D, c = e % D;
    tile[r * pitch + c] = first + r < seq ? x[rows.base + (first + r) * rows.stride + c] : bf16_bits{0};
  }
}

template <int D>
__device__ __forceinline__ float dot(const bf16_bits* a, const bf16_bits* b) {
  float sum = 0.0f;
  for (int d = 0; d < D; ++d) sum += load_bf16(a + d) * load_bf16(b + d);
  return sum;
}

// acc[c] += sum over the tile's rows j (in order) of weight[j] * rows[j][lane + 32 c].
template <int D>
__device__ __forceinline__ void accumulate(float (&acc)[kDimsPerLane<D>], const float* weight, const bf16_bits* rows,
                                           int pitch, int lane) {
  for_each_index<kDimsPerLane<D>>([&](auto c) {
    const int d = lane + 32 * c.value;
    if (d >= D) return;
    float total = acc[c.value];
    for (int j = 0; j < kTile; ++j) total += weight[j] * load_bf16(rows + j * pitch + d);
    acc[c.value] = total;
  });
}

template <int D>
__device__ __forceinline__ void store_row(bf16_bits* row, const float (&acc)[kDimsPerLane<D>], float factor,
                                          int lane) {
  for_each_index<kDimsPerLane<D>>([&](auto c) {
    if (lane + 32 * c.value < D) store_bf16(row + lane + 32 * c.value, acc[c.value] * factor);
  });
}

struct ScoreGradient {
  float p;   // the probability, exp(q.k * scale - lse)
  float ds;  // the gradient of q.k: p * (dout.v - delta) * scale, in the CPU's order of operations
};

template <int D>
__device__ __forceinline__ ScoreGradient score_gradient(const bf16_bits* q, const bf16_bits* k, const bf16_bits* dout,
                                                        const bf16_bits* v, float lse, float delta, float scale) {
  const float p = expf(dot<D>(q, k) * scale - lse);
  return {p, p * (dot<D>(dout, v) - delta) * scale};
}

// f(i, row) for each row i of the warp (tile row i * kWarps + warp) that lies before the sequence's end: a test the
// same for the whole warp, so that the collectives in f see full masks.
template <class F>
__device__ __forceinline__ void for_each_warp_row(std::int64_t first, std::int64_t seq, const F& f) {
  const int warp = static_cast<int>(threadIdx.x / 32);
  for_each_index<kRowsPerWarp>([&](auto i) {
    const int row = i.value * kWarps + warp;
    if (first + row < seq) f(i, row);
  });
}

template <int D>
struct ForwardTiles {
  float p[kWarps][kTile];  // each warp's probabilities of the key tile for its current row
  bf16_bits q[kTile][D];
  bf16_bits k[kTile][D + kPad];
  bf16_bits v[kTile][D];
};

// Block (x, y): query tile gridDim.x - 1 - x (the longest causal rows start first) of (batch, head) pairs y, y +
// gridDim.y, ... Each row keeps its running maximum, sum and output in registers across the key tiles 0 .. its own.
template <int D>
__global__ void attention_forward_kernel(AttentionShape s, float scale, const bf16_bits* q, const bf16_bits* k,
                                         const bf16_bits* v, bf16_bits* out, float* lse) {
  DIVERGE_DYNAMIC_SHARED(ForwardTiles<D>, tiles);
  const int lane = static_cast<int>(threadIdx.x % 32), warp = static_cast<int>(threadIdx.x / 32);
  const std::int64_t first = query_tile_first();
  for (std::int64_t bh = blockIdx.y; bh < s.batch * s.heads; bh += gridDim.y) {
    const HeadPair rows = head_pair(s, bh);
    __syncthreads();  // the previous pair's last reads of the tiles are done
    stage_rows<D>(tiles->q[0], D, q, rows.query, first, s.seq);
    float running_max[kRowsPerWarp], sum[kRowsPerWarp] = {}, acc[kRowsPerWarp][kDimsPerLane<D>] = {};
    for_each_index<kRowsPerWarp>([&](auto i) { running_max[i.value] = -INFINITY; });
    for (std::int64_t key_first = 0; key_first <= first; key_first += kTile) {
      __syncthreads();
      stage_rows<D>(tiles->k[0], D + kPad, k, rows.kv, key_first, s.seq);
      stage_rows<D>(tiles->v[0], D, v, rows.kv, key_first, s.seq);
      __syncthreads();
      const std::int64_t key = key_first + lane;
      for_each_warp_row(first, s.seq, [&](auto i, int row) {
        const float score = key <= first + row ? dot<D>(tiles->q[row], tiles->k[lane]) * scale : -INFINITY;
        const float new_max = fmaxf(running_max[i.value], warp_max(score));
        const float p = expf(score - new_max);
        const float rescale = expf(running_max[i.value] - new_max);  // 0 on the first tile, where the max was -inf
        running_max[i.value] = new_max;
        sum[i.value] = sum[i.value] * rescale + warp_sum(p);
        for_each_index<kDimsPerLane<D>>([&](auto c) { acc[i.value][c.value] *= rescale; });
        tiles->p[warp][lane] = p;
        __syncwarp();
        accumulate<D>(acc[i.value], tiles->p[warp], tiles->v[0], D, lane);
        __syncwarp();  // every lane has read p before the next row overwrites it
      });
    }
    for_each_warp_row(first, s.seq, [&](auto i, int row) {
      const std::int64_t t = first + row;
      store_row<D>(out + rows.query.base + t * rows.query.stride, acc[i.value], 1.0f / sum[i.value], lane);
      if (lane == 0) lse[bh * s.seq + t] = running_max[i.value] + logf(sum[i.value]);
    });
  }
}

template <int D>
struct QueryGradientTiles {
  float ds[kWarps][kTile];
  bf16_bits q[kTile][D];
  bf16_bits dout[kTile][D];
  bf16_bits k[kTile][D + kPad];
  bf16_bits v[kTile][D + kPad];
};

// dq of one query tile (laid out as the forward's blocks): dq_t = sum over keys j <= t, in order, of ds_tj k_j.
template <int D>
__global__ void attention_dq_kernel(AttentionShape s, float scale, const bf16_bits* q, const bf16_bits* k,
                                    const bf16_bits* v, const float* lse, const float* delta, const bf16_bits* dout,
                                    bf16_bits* dq) {
  DIVERGE_DYNAMIC_SHARED(QueryGradientTiles<D>, tiles);
  const int lane = static_cast<int>(threadIdx.x % 32), warp = static_cast<int>(threadIdx.x / 32);
  const std::int64_t first = query_tile_first();
  for (std::int64_t bh = blockIdx.y; bh < s.batch * s.heads; bh += gridDim.y) {
    const HeadPair rows = head_pair(s, bh);
    __syncthreads();
    stage_rows<D>(tiles->q[0], D, q, rows.query, first, s.seq);
    stage_rows<D>(tiles->dout[0], D, dout, rows.query, first, s.seq);
    float row_lse[kRowsPerWarp] = {}, row_delta[kRowsPerWarp] = {}, acc[kRowsPerWarp][kDimsPerLane<D>] = {};
    for_each_warp_row(first, s.seq, [&](auto i, int row) {
      row_lse[i.value] = lse[bh * s.seq + first + row];
      row_delta[i.value] = delta[bh * s.seq + first + row];
    });
    for (std::int64_t key_first = 0; key_first <= first; key_first += kTile) {
      __syncthreads();
      stage_rows<D>(tiles->k[0], D + kPad, k, rows.kv, key_first, s.seq);
      stage_rows<D>(tiles->v[0], D + kPad, v, rows.kv, key_first, s.seq);
      __syncthreads();
      const std::int64_t key = key_first + lane;
      for_each_warp_row(first, s.seq, [&](auto i, int row) {
        tiles->ds[warp][lane] = key <= first + row
                                    ? score_gradient<D>(tiles->q[row], tiles->k[lane], tiles->dout[row],
                                                        tiles->v[lane], row_lse[i.value], row_delta[i.value], scale)
                                          .ds
                                    : 0.0f;
        __syncwarp();
        accumulate<D>(acc[i.value], tiles->ds[warp], tiles->k[0], D + kPad, lane);
        __syncwarp();
      });
    }
    for_each_warp_row(first, s.seq, [&](auto i, int row) {
      store_row<D>(dq + rows.query.base + (first + row) * rows.query.stride, acc[i.value], 1.0f, lane);
    });
  }
}

template <int D>
struct KeyGradientTiles {
  float lse[kTile];
  float delta[kTile];
  float p[kWarps][kTile];
  float ds[kWarps][kTile];
  bf16_bits k[kTile][D];
  bf16_bits v[kTile][D];
  bf16_bits q[kTile][D + kPad];
  bf16_bits dout[kTile][D + kPad];
};

// dk and dv of key tile x for (batch, KV head) pairs y, y + gridDim.y, ...: the block alone owns these rows, and
// sums over the group's query heads in order, then the query tiles from the diagonal on, then the queries of a tile:
// dv_j = sum p_tj dout_t, dk_j = sum ds_tj q_t over queries t >= j.
template <int D>
__global__ void attention_dkdv_kernel(AttentionShape s, float scale, const bf16_bits* q, const bf16_bits* k,
                                      const bf16_bits* v, const float* lse, const float* delta, const bf16_bits* dout,
                                      bf16_bits* dk, bf16_bits* dv) {
  DIVERGE_DYNAMIC_SHARED(KeyGradientTiles<D>, tiles);
  const int lane = static_cast<int>(threadIdx.x % 32), warp = static_cast<int>(threadIdx.x / 32);
  // The first key tiles are seen by the most queries: they start first.
  const std::int64_t first = static_cast<std::int64_t>(blockIdx.x) * kTile;
  const std::int64_t group = s.heads / s.kv_heads;
  for (std::int64_t bg = blockIdx.y; bg < s.batch * s.kv_heads; bg += gridDim.y) {
    const std::int64_t b = bg / s.kv_heads, g = bg % s.kv_heads;
    const HeadRows kv_rows = head_rows(s, b, g, s.kv_heads);
    __syncthreads();
    stage_rows<D>(tiles->k[0], D, k, kv_rows, first, s.seq);
    stage_rows<D>(tiles->v[0], D, v, kv_rows, first, s.seq);
    float dk_acc[kRowsPerWarp][kDimsPerLane<D>] = {}, dv_acc[kRowsPerWarp][kDimsPerLane<D>] = {};
    for (std::int64_t h = g * group; h < (g + 1) * group; ++h) {
      const HeadRows q_rows = head_rows(s, b, h, s.heads);
      const std::int64_t bh = b * s.heads + h;
      for (std::int64_t query_first = first; query_first < s.seq; query_first += kTile) {
        __syncthreads();
        stage_rows<D>(tiles->q[0], D + kPad, q, q_rows, query_first, s.seq);
        stage_rows<D>(tiles->dout[0], D + kPad, dout, q_rows, query_first, s.seq);
        if (threadIdx.x < kTile) {
          const std::int64_t t = query_first + threadIdx.x;
          tiles->lse[threadIdx.x] = t < s.seq ? lse[bh * s.seq + t] : 0.0f;
          tiles->delta[threadIdx.x] = t < s.seq ? delta[bh * s.seq + t] : 0.0f;
        }
        __syncthreads();
        const std::int64_t t = query_first + lane;
        for_each_warp_row(first, s.seq, [&](auto i, int row) {
          const ScoreGradient grad =
              t >= first + row && t < s.seq
                  ? score_gradient<D>(tiles->q[lane], tiles->k[row], tiles->dout[lane], tiles->v[row],
                                      tiles->lse[lane], tiles->delta[lane], scale)
                  : ScoreGradient{0.0f, 0.0f};
          tiles->p[warp][lane] = grad.p;
          tiles->ds[warp][lane] = grad.ds;
          __syncwarp();
          accumulate<D>(dv_acc[i.value], tiles->p[warp], tiles->dout[0], D + kPad, lane);
          accumulate<D>(dk_acc[i.value], tiles->ds[warp], tiles->q[0], D + kPad, lane);
          __syncwarp();
        });
      }
    }
    for_each_warp_row(first, s.seq, [&](auto i, int row) {
      store_row<D>(dk + kv_rows.base + (first + row) * kv_rows.stride, dk_acc[i.value], 1.0f, lane);
      store_row<D>(dv + kv_rows.base + (first + row) * kv_rows.stride, dv_acc[i.value], 1.0f, lane);
    });
  }
}

// Calls launch(Index<D>{}) for the compiled head dim D equal to head_dim.
template <class Launch, std::size_t... I>
void with_head_dim(std::int64_t head_dim, const Launch& launch, std::index_sequence<I...>) {
  const bool launched =
      ((head_dim == kAttentionHeadDims[I] && (launch(Index<kAttentionHeadDims[I]>{}), true)) ||
       ...);
  if (!launched) throw Error("cuda attention", "no kernel for head dim " + std::to_string(head_dim));
}

template <class Launch>
void with_head_dim(std::int64_t head_dim, const Launch& launch) {
  with_head_dim(head_dim, launch, std::make_index_sequence<std::size(kAttentionHeadDims)>{});
}

// x: the tiles along the sequence; y: (batch, head) pairs, capped, the rest taken by the kernels' stride loops.
dim3 tile_grid(const AttentionShape& s, std::int64_t pairs) {
  return dim3(static_cast<unsigned>((s.seq + kTile - 1) / kTile),
              static_cast<unsigned>(std::min<std::int64_t>(pairs, kMaxGridY)));
}

}  // namespace

void attention_forward(const AttentionShape& s, const bf16_bits* q, const bf16_bits* k, const bf16_bits* v,
                       bf16_bits* out, float* lse) {
  if (s.batch * s.seq * s.heads == 0) return;
  with_head_dim(s.head_dim, [&](auto dim) {
    constexpr int D = decltype(dim)::value;
    DIVERGE_LAUNCH(attention_forward_kernel<D>, tile_grid(s, s.batch * s.heads), dim3(kThreads),
                   sizeof(ForwardTiles<D>), s, attention_scale(s), q, k, v, out, lse);
  });
}

void attention_backward(const AttentionShape& s, const bf16_bits* q, const bf16_bits* k, const bf16_bits* v,
                        const bf16_bits* out, const float* lse, const bf16_bits* dout, bf16_bits* dq, bf16_bits* dk,
                        bf16_bits* dv) {
  if (s.batch * s.seq * s.heads == 0) return;
  const float* delta = attention_delta(s, out, dout);
  with_head_dim(s.head_dim, [&](auto dim) {
    constexpr int D = decltype(dim)::value;
    DIVERGE_LAUNCH(attention_dq_kernel<D>, tile_grid(s, s.batch * s.heads), dim3(kThreads),
                   sizeof(QueryGradientTiles<D>), s, attention_scale(s), q, k, v, lse, delta, dout, dq);
    DIVERGE_LAUNCH(attention_dkdv_kernel<D>, tile_grid(s, s.batch * s.kv_heads), dim3(kThreads),
                   sizeof(KeyGradientTiles<D>), s, attention_scale(s), q, k, v, lse, delta, dout, dk, dv);
  });
}

}  // namespace diverge::cuda
