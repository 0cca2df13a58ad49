// CUDA causal attention forward on tensor cores (flash-attention 2's structure): a block per 64-query tile, K and V
// tiles streamed through shared memory by double-buffered cp.async, scores and P V by mma.sync, online softmax in
// fp32 on the accumulator fragments.
#include "kernels/cuda/attention_flash.h"

#include <cmath>

#include "kernels/cuda/attention.h"
#include "kernels/cuda/attention_tiles.h"

namespace diverge::cuda {
namespace {

using namespace flash;

template <int D>
struct FlashTiles {
  SharedTile<D> q;  // then each warp's output rows, staged for 16-byte stores
  SharedTile<D> k[2];
  SharedTile<D> v[2];
};

// A row is spread over the four lanes of a quad (g = lane / 4): a fixed butterfly, the same bits in every lane.
__device__ __forceinline__ float quad_max(float x) {
  x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 1));
  return fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 2));
}

__device__ __forceinline__ float quad_sum(float x) {
  x += __shfl_xor_sync(0xffffffffu, x, 1);
  return x + __shfl_xor_sync(0xffffffffu, x, 2);
}

// The lane's two rows (g and g + 8 of the warp's 16; fragment elements 0, 1 and 2, 3): the running maximum of the
// scaled scores, shared by the quad, and the lane's own part of the sum of exponentials, added up at the end.
struct RowStats {
  float max[2] = {-INFINITY, -INFINITY};
  float partial_sum[2] = {0.0f, 0.0f};
};

// Scales a tile's scores in place (keys after the row or past the sequence to -inf), then turns them into
// exponentials relative to the rows' new maxima, rescaling the running sums and the output accumulator to them.
template <int D>
__device__ void online_softmax(WarpScores& s, RowStats& stats, float (&o)[D / 8][4], float scale, std::int64_t row,
                               std::int64_t key_first, bool diagonal, std::int64_t seq, int lane) {
  const int t = lane % 4;
  float tile_max[2] = {-INFINITY, -INFINITY};
  for (int n = 0; n < kColumnTiles; ++n) {
    for (int i = 0; i < 4; ++i) {
      const std::int64_t key = key_first + n * 8 + 2 * t + i % 2;
      const bool visible = !diagonal || (key <= row + (i / 2) * 8 && key < seq);
      s[n][i] = visible ? s[n][i] * scale : -INFINITY;
      tile_max[i / 2] = fmaxf(tile_max[i / 2], s[n][i]);
    }
  }
  float shift[2], rescale[2];
  for (int h = 0; h < 2; ++h) {
    const float new_max = fmaxf(stats.max[h], quad_max(tile_max[h]));
    shift[h] = new_max == -INFINITY ? 0.0f : new_max;  // a row with no visible key yet keeps zero weights
    rescale[h] = expf(stats.max[h] - shift[h]);        // 0 on the first tile, where the max was -inf
    stats.max[h] = new_max;
    stats.partial_sum[h] *= rescale[h];
  }
  for (int n = 0; n < kColumnTiles; ++n) {
    for (int i = 0; i < 4; ++i) {
      s[n][i] = expf(s[n][i] - shift[i / 2]);
      stats.partial_sum[i / 2] += s[n][i];
    }
  }
  for (auto& fragment : o)
    for (int i = 0; i < 4; ++i) fragment[i] *= rescale[i / 2];
}

// Writes lse = max + log(sum) and the warp's output rows divided by their sums.
template <int D>
__device__ void store_rows(const float (&o)[D / 8][4], const RowStats& stats, SharedTile<D>& staging,
                           bf16_bits* out, HeadRows rows, float* lse, std::int64_t first, std::int64_t seq, int warp,
                           int lane) {
  float inverse[2];
  for (int h = 0; h < 2; ++h) {
    const float sum = quad_sum(stats.partial_sum[h]);
    inverse[h] = 1.0f / sum;
    const std::int64_t row = first + warp * kWarpRows + lane / 4 + h * 8;
    if (lane % 4 == 0 && row < seq) lse[row] = stats.max[h] + logf(sum);
  }
  store_warp_rows<D>(o, inverse, staging, out, rows, first, seq, warp, lane);
}

// Block (x, y): (batch, head) pair x, query tile gridDim.y - 1 - y, so that the tiles with the longest causal rows
// start first. Key tiles 0 .. the diagonal one, each loaded while the one before is in use.
template <int D>
__global__ void flash_attention_forward_kernel(AttentionShape s, float scale, const bf16_bits* q, const bf16_bits* k,
                                               const bf16_bits* v, bf16_bits* out, float* lse) {
  DIVERGE_DYNAMIC_SHARED(FlashTiles<D>, tiles);
  const int lane = static_cast<int>(threadIdx.x % 32), warp = static_cast<int>(threadIdx.x / 32);
  const auto [bh, rows, first, key_tiles] = query_tile_block(s);

  load_tile<D>(tiles->q, q, rows.query, first, s.seq);
  cp_async_commit();
  load_key_values<D>(tiles->k[0], tiles->v[0], k, v, rows.kv, 0, s.seq);
  cp_async_commit();
  cp_async_wait<1>();
  __syncthreads();
  std::uint32_t qa[D / 16][4];  // the warp's query rows, loaded once
  for (int kk = 0; kk < D / 16; ++kk) load_row_fragment<D>(qa[kk], tiles->q, warp * kWarpRows, kk, lane);
  const auto query_fragment = [&](std::uint32_t (&a)[4], int kk) {
    for (int i = 0; i < 4; ++i) a[i] = qa[kk][i];
  };

  RowStats stats;
  float o[D / 8][4] = {};
  const std::int64_t row = first + warp * kWarpRows + lane / 4;  // the lane's first row; the second is 8 below
  pipelined_steps(
      key_tiles,
      [&](std::int64_t j, int buffer) {
        load_key_values<D>(tiles->k[buffer], tiles->v[buffer], k, v, rows.kv, j * kRows, s.seq);
      },
      [&](std::int64_t j, int buffer) {
        WarpScores scores;
        rows_times_tile<D>(scores, query_fragment, tiles->k[buffer], 0, lane);
        online_softmax<D>(scores, stats, o, scale, row, j * kRows, j + 1 == key_tiles, s.seq, lane);
        accumulate_product<D>(o, scores, tiles->v[buffer], 0, lane);
      });
  store_rows<D>(o, stats, tiles->q, out, rows.query, lse + bh * s.seq, first, s.seq, warp, lane);
}

template <int D>
void launch_forward(const AttentionShape& s, const bf16_bits* q, const bf16_bits* k, const bf16_bits* v,
                    bf16_bits* out, float* lse) {
  constexpr std::size_t kBytes = sizeof(FlashTiles<D>);
  allow_dynamic_shared(&flash_attention_forward_kernel<D>, kBytes);
  const dim3 grid(static_cast<unsigned>(s.batch * s.heads), static_cast<unsigned>((s.seq + kRows - 1) / kRows));
  DIVERGE_LAUNCH(flash_attention_forward_kernel<D>, grid, dim3(kThreads), kBytes, s, attention_scale(s), q, k, v,
                 out, lse);
}

}  // namespace

void flash_attention_forward(const AttentionShape& s, const bf16_bits* q, const bf16_bits* k, const bf16_bits* v,
                             bf16_bits* out, float* lse) {
  if (s.batch * s.seq * s.heads == 0) return;
  check_flash_arguments(s, {q, k, v, out});
  if (s.head_dim == 64) return launch_forward<64>(s, q, k, v, out, lse);
  launch_forward<128>(s, q, k, v, out, lse);
}

}  // namespace diverge::cuda
