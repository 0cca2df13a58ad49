// CUDA causal attention backward on tensor cores, deterministic: flash-attention 2's backward split in two kernels,
// dk and dv per key tile and dq per query tile, each writing its outputs once, no atomics.
//
// Flash-attention 2 computes all five products of a (query tile, key tile) pair in one pass per key tile and adds
// each tile's dq into global memory with float atomics, whose order (and so whose rounding) changes from run to run.
// Here dq has a kernel of its own, which recomputes S = Q K^T and dP = dO V^T over its key tiles: two of the five
// products done twice, for gradients that are the same bits on every run.
#include "kernels/cuda/attention_flash.h"

#include <cmath>

#include "kernels/cuda/attention.h"
#include "kernels/cuda/attention_delta.h"
#include "kernels/cuda/attention_tiles.h"

namespace diverge::cuda {
namespace {

using namespace flash;

template <int D>
struct KeyGradientTiles {
  SharedTile<D> k;  // then each warp's dk rows, staged for 16-byte stores
  SharedTile<D> v;  // then each warp's dv rows
  SharedTile<D> q[2];
  SharedTile<D> dout[2];
  float lse[2][kRows];
  float delta[2][kRows];
};

// The query tile a dk/dv block's step reads: query head `head` (of all H), rows from `first`.
struct QueryStep {
  std::int64_t head;
  std::int64_t first;
};

static_assert(kThreads == 2 * kRows, "a thread per query loads its lse, another its delta");

// Queries [first, first + kRows) of a head: q and dout through cp.async (the caller commits the group), lse and delta
// by plain loads (their rows are not 16-byte aligned), 0 past the sequence's end.
template <int D>
__device__ void load_query_step(KeyGradientTiles<D>& tiles, int buffer, const AttentionShape& s, std::int64_t b,
                                QueryStep step, const bf16_bits* q, const bf16_bits* dout, const float* lse,
                                const float* delta) {
  const HeadRows rows = head_rows(s, b, step.head, s.heads);
  load_tile<D>(tiles.q[buffer], q, rows, step.first, s.seq);
  load_tile<D>(tiles.dout[buffer], dout, rows, step.first, s.seq);
  const int i = static_cast<int>(threadIdx.x) % kRows;
  const std::int64_t t = step.first + i, row = (b * s.heads + step.head) * s.seq + t;
  if (threadIdx.x < kRows)
    tiles.lse[buffer][i] = t < s.seq ? lse[row] : 0.0f;
  else
    tiles.delta[buffer][i] = t < s.seq ? delta[row] : 0.0f;
}

// The queries of a tile a dk/dv warp holds scores for at once: half the tile for D = 128, where two 16 x 64 score
// blocks beside the 16 x 128 dk and dv accumulators spill registers (48 bytes on sm_90a; 16 with halves).
template <int D>
constexpr int kQueryPart = D == 128 ? kRows / 2 : kRows;

// One query tile's share of the warp's 16 keys, kQueryPart queries at a time: with S^T (keys x queries) = K Q^T and
// dP^T = V dO^T, P^T = exp(S^T scale - lse), dS^T = P^T (dP^T - delta), then dv += P^T dO and dk += dS^T Q (the
// scale applied once at the end). Probabilities of queries before the key or past the sequence's end are 0, tested
// only where `edge` (the diagonal tile and the last one).
template <int D>
__device__ void accumulate_key_gradients(float (&dk)[D / 8][4], float (&dv)[D / 8][4], KeyGradientTiles<D>& tiles,
                                         int buffer, float scale, std::int64_t key, std::int64_t query_first, bool edge,
                                         std::int64_t seq, int warp, int lane) {
  const int t = lane % 4;
  const auto key_fragment = [&](std::uint32_t (&a)[4], int kk) {
    load_row_fragment<D>(a, tiles.k, warp * kWarpRows, kk, lane);
  };
  const auto value_fragment = [&](std::uint32_t (&a)[4], int kk) {
    load_row_fragment<D>(a, tiles.v, warp * kWarpRows, kk, lane);
  };
  for (int part = 0; part < kRows; part += kQueryPart<D>) {
    float p[kQueryPart<D> / 8][4], ds[kQueryPart<D> / 8][4];
    rows_times_tile<D>(p, key_fragment, tiles.q[buffer], part, lane);
    rows_times_tile<D>(ds, value_fragment, tiles.dout[buffer], part, lane);
    for (int n = 0; n < kQueryPart<D> / 8; ++n) {
      for (int i = 0; i < 4; ++i) {
        const int column = part + n * 8 + 2 * t + i % 2;
        const std::int64_t query = query_first + column;
        const bool visible = !edge || (query >= key + (i / 2) * 8 && query < seq);
        p[n][i] = visible ? expf(p[n][i] * scale - tiles.lse[buffer][column]) : 0.0f;
        ds[n][i] = p[n][i] * (ds[n][i] - tiles.delta[buffer][column]);
      }
    }
    accumulate_product<D>(dv, p, tiles.dout[buffer], part, lane);
    accumulate_product<D>(dk, ds, tiles.q[buffer], part, lane);
  }
}

// Block (x, y): (batch, KV head) pair x, key tile y: the first key tiles, seen by the most queries, start first. The
// block owns its keys' dk and dv across the group's query heads, so it sums every term itself: over the heads in
// order, and for each over the query tiles from the diagonal on, each loaded while the one before is in use.
template <int D>
__global__ void flash_attention_dkdv_kernel(AttentionShape s, float scale, const bf16_bits* q, const bf16_bits* k,
                                            const bf16_bits* v, const float* lse, const float* delta,
                                            const bf16_bits* dout, bf16_bits* dk, bf16_bits* dv) {
  DIVERGE_DYNAMIC_SHARED(KeyGradientTiles<D>, tiles);
  const int lane = static_cast<int>(threadIdx.x % 32), warp = static_cast<int>(threadIdx.x / 32);
  const std::int64_t b = blockIdx.x / s.kv_heads, kv_head = blockIdx.x % s.kv_heads, group = s.heads / s.kv_heads;
  const HeadRows kv_rows = head_rows(s, b, kv_head, s.kv_heads);
  const std::int64_t first = static_cast<std::int64_t>(blockIdx.y) * kRows;
  const std::int64_t tiles_per_head = (s.seq + kRows - 1) / kRows - blockIdx.y, steps = group * tiles_per_head;
  const auto step_at = [&](std::int64_t j) {
    return QueryStep{kv_head * group + j / tiles_per_head, first + j % tiles_per_head * kRows};
  };

  load_key_values<D>(tiles->k, tiles->v, k, v, kv_rows, first, s.seq);
  cp_async_commit();
  load_query_step<D>(*tiles, 0, s, b, step_at(0), q, dout, lse, delta);
  cp_async_commit();

  float dk_acc[D / 8][4] = {}, dv_acc[D / 8][4] = {};
  const std::int64_t key = first + warp * kWarpRows + lane / 4;  // the lane's first key; the second is 8 below
  pipelined_steps(
      steps,
      [&](std::int64_t j, int buffer) { load_query_step<D>(*tiles, buffer, s, b, step_at(j), q, dout, lse, delta); },
      [&](std::int64_t j, int buffer) {
        const QueryStep step = step_at(j);
        const bool edge = step.first == first || step.first + kRows > s.seq;
        accumulate_key_gradients<D>(dk_acc, dv_acc, *tiles, buffer, scale, key, step.first, edge, s.seq, warp, lane);
      });
  const float dk_factor[2] = {scale, scale}, dv_factor[2] = {1.0f, 1.0f};
  store_warp_rows<D>(dk_acc, dk_factor, tiles->k, dk, kv_rows, first, s.seq, warp, lane);
  store_warp_rows<D>(dv_acc, dv_factor, tiles->v, dv, kv_rows, first, s.seq, warp, lane);
}

template <int D>
struct QueryGradientTiles {
  SharedTile<D> q;  // then each warp's dq rows, staged for 16-byte stores
  SharedTile<D> dout;
  SharedTile<D> k[2];
  SharedTile<D> v[2];
};

// One key tile's share of the warp's 16 query rows: S = Q K^T, dP = dO V^T, P = exp(S scale - lse),
// dS = P (dP - delta), then dq += dS K (the scale applied once at the end). Keys after the row are 0 where
// `diagonal`.
template <int D>
__device__ void accumulate_query_gradients(float (&dq)[D / 8][4], QueryGradientTiles<D>& tiles, int buffer, float scale,
                                           const float (&row_lse)[2], const float (&row_delta)[2], std::int64_t row,
                                           std::int64_t key_first, bool diagonal, int warp, int lane) {
  const int t = lane % 4;
  WarpScores p, ds;
  rows_times_tile<D>(
      p, [&](std::uint32_t (&a)[4], int kk) { load_row_fragment<D>(a, tiles.q, warp * kWarpRows, kk, lane); },
      tiles.k[buffer], 0, lane);
  rows_times_tile<D>(
      ds, [&](std::uint32_t (&a)[4], int kk) { load_row_fragment<D>(a, tiles.dout, warp * kWarpRows, kk, lane); },
      tiles.v[buffer], 0, lane);
  for (int n = 0; n < kColumnTiles; ++n) {
    for (int i = 0; i < 4; ++i) {
      const std::int64_t key = key_first + n * 8 + 2 * t + i % 2;
      const bool visible = !diagonal || key <= row + (i / 2) * 8;
      p[n][i] = visible ? expf(p[n][i] * scale - row_lse[i / 2]) : 0.0f;
      ds[n][i] = p[n][i] * (ds[n][i] - row_delta[i / 2]);
    }
  }
  accumulate_product<D>(dq, ds, tiles.k[buffer], 0, lane);
}

// Block (x, y): (batch, head) pair x, query tile gridDim.y - 1 - y, the longest causal rows first. Key tiles 0 ..
// the diagonal one, each loaded while the one before is in use; the rows past the sequence's end compute on zeros
// and are not stored.
template <int D>
__global__ void flash_attention_dq_kernel(AttentionShape s, float scale, const bf16_bits* q, const bf16_bits* k,
                                          const bf16_bits* v, const float* lse, const float* delta,
                                          const bf16_bits* dout, bf16_bits* dq) {
  DIVERGE_DYNAMIC_SHARED(QueryGradientTiles<D>, tiles);
  const int lane = static_cast<int>(threadIdx.x % 32), warp = static_cast<int>(threadIdx.x / 32);
  const auto [bh, rows, first, key_tiles] = query_tile_block(s);

  load_tile<D>(tiles->q, q, rows.query, first, s.seq);
  load_tile<D>(tiles->dout, dout, rows.query, first, s.seq);
  load_key_values<D>(tiles->k[0], tiles->v[0], k, v, rows.kv, 0, s.seq);
  cp_async_commit();

  const std::int64_t row = first + warp * kWarpRows + lane / 4;  // the lane's first row; the second is 8 below
  float row_lse[2], row_delta[2];
  for (int h = 0; h < 2; ++h) {
    const bool inside = row + h * 8 < s.seq;
    row_lse[h] = inside ? lse[bh * s.seq + row + h * 8] : 0.0f;
    row_delta[h] = inside ? delta[bh * s.seq + row + h * 8] : 0.0f;
  }
  float dq_acc[D / 8][4] = {};
  pipelined_steps(
      key_tiles,
      [&](std::int64_t j, int buffer) {
        load_key_values<D>(tiles->k[buffer], tiles->v[buffer], k, v, rows.kv, j * kRows, s.seq);
      },
      [&](std::int64_t j, int buffer) {
        accumulate_query_gradients<D>(dq_acc, *tiles, buffer, scale, row_lse, row_delta, row, j * kRows,
                                      j + 1 == key_tiles, warp, lane);
      });
  const float dq_factor[2] = {scale, scale};
  store_warp_rows<D>(dq_acc, dq_factor, tiles->q, dq, rows.query, first, s.seq, warp, lane);
}

template <int D>
void launch_backward(const AttentionShape& s, const bf16_bits* q, const bf16_bits* k, const bf16_bits* v,
                     const float* lse, const float* delta, const bf16_bits* dout, bf16_bits* dq, bf16_bits* dk,
                     bf16_bits* dv) {
  const auto tiles = static_cast<unsigned>((s.seq + kRows - 1) / kRows);
  constexpr std::size_t kKeyBytes = sizeof(KeyGradientTiles<D>), kQueryBytes = sizeof(QueryGradientTiles<D>);
  allow_dynamic_shared(&flash_attention_dkdv_kernel<D>, kKeyBytes);
  allow_dynamic_shared(&flash_attention_dq_kernel<D>, kQueryBytes);
  DIVERGE_LAUNCH(flash_attention_dkdv_kernel<D>, dim3(static_cast<unsigned>(s.batch * s.kv_heads), tiles),
                 dim3(kThreads), kKeyBytes, s, attention_scale(s), q, k, v, lse, delta, dout, dk, dv);
  DIVERGE_LAUNCH(flash_attention_dq_kernel<D>, dim3(static_cast<unsigned>(s.batch * s.heads), tiles), dim3(kThreads),
                 kQueryBytes, s, attention_scale(s), q, k, v, lse, delta, dout, dq);
}

}  // namespace

void flash_attention_backward(const AttentionShape& s, const bf16_bits* q, const bf16_bits* k, const bf16_bits* v,
                              const bf16_bits* out, const float* lse, const bf16_bits* dout, bf16_bits* dq,
                              bf16_bits* dk, bf16_bits* dv) {
  if (s.batch * s.seq * s.heads == 0) return;
  check_flash_arguments(s, {q, k, v, dout, dq, dk, dv});
  const float* delta = attention_delta(s, out, dout);
  if (s.head_dim == 64) return launch_backward<64>(s, q, k, v, lse, delta, dout, dq, dk, dv);
  launch_backward<128>(s, q, k, v, lse, delta, dout, dq, dk, dv);
}

}  // namespace diverge::cuda
