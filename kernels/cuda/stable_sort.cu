// The stable key sort: LSD radix passes of 8-bit digits over 1024-element tiles (count, scan, rank in order), then
// each key's start from a histogram and a scan.
#include "kernels/cuda/stable_sort.h"

#include "kernels/cuda/cuda_source.h"
#include "kernels/cuda/grid.h"
#include "kernels/cuda/memory.h"
#include "kernels/cuda/scratch.h"

namespace diverge::cuda {
namespace {

constexpr int kTile = 1024;     // elements a tile ranks, in order
constexpr int kBuckets = 256;   // 8-bit digits
constexpr int kScanThreads = 1024;

// counts (kBuckets, tiles): how many keys of each tile have each digit; digit-major so that one scan over the
// array gives every (digit, tile) its first output slot.
__global__ void count_digits_kernel(const std::int32_t* keys, std::int64_t n, int shift, std::int64_t tiles,
                                    std::int32_t* counts) {
  __shared__ std::int32_t local[kBuckets];
  for (int b = static_cast<int>(threadIdx.x); b < kBuckets; b += static_cast<int>(blockDim.x)) local[b] = 0;
  __syncthreads();
  const std::int64_t begin = static_cast<std::int64_t>(blockIdx.x) * kTile;
  for (std::int64_t i = begin + threadIdx.x; i < begin + kTile && i < n; i += blockDim.x)
    atomicAdd(&local[(keys[i] >> shift) & (kBuckets - 1)], 1);
  __syncthreads();
  for (int b = static_cast<int>(threadIdx.x); b < kBuckets; b += static_cast<int>(blockDim.x))
    counts[b * tiles + blockIdx.x] = local[b];
}

// In place: values (n) become their exclusive prefix sums, by one block: each thread sums a contiguous segment,
// a tree scans the segment sums, then each thread writes its segment.
__global__ void exclusive_scan_kernel(std::int32_t* values, std::int64_t n) {
  __shared__ std::int32_t sums[kScanThreads];
  const std::int64_t per_thread = (n + kScanThreads - 1) / kScanThreads;
  const std::int64_t begin = threadIdx.x * per_thread;
  const std::int64_t end = begin + per_thread < n ? begin + per_thread : n;
  std::int32_t total = 0;
  for (std::int64_t i = begin; i < end; ++i) total += values[i];
  sums[threadIdx.x] = total;
  __syncthreads();
  for (int offset = 1; offset < kScanThreads; offset *= 2) {  // Hillis-Steele inclusive scan of the segment sums
    const std::int32_t add = static_cast<int>(threadIdx.x) >= offset ? sums[threadIdx.x - offset] : 0;
    __syncthreads();
    sums[threadIdx.x] += add;
    __syncthreads();
  }
  std::int32_t running = sums[threadIdx.x] - total;
  for (std::int64_t i = begin; i < end; ++i) {
    const std::int32_t value = values[i];
    values[i] = running;
    running += value;
  }
}

// One warp per tile walks its elements in order, 32 at a time: lanes with equal digits rank among themselves by
// lane, and each digit's next slot advances by their number, so equal digits keep their order.
__global__ void scatter_tile_kernel(const std::int32_t* keys, const std::int32_t* order, std::int64_t n, int shift,
                                    std::int64_t tiles, const std::int32_t* offsets, std::int32_t* keys_out,
                                    std::int32_t* order_out) {
  __shared__ std::int32_t next[kBuckets];
  const unsigned lane = threadIdx.x;
  for (unsigned b = lane; b < kBuckets; b += 32) next[b] = offsets[b * tiles + blockIdx.x];
  __syncwarp();
  const std::int64_t begin = static_cast<std::int64_t>(blockIdx.x) * kTile;
  for (std::int64_t chunk = begin; chunk < begin + kTile && chunk < n; chunk += 32) {
    const std::int64_t i = chunk + lane;
    const unsigned active = __ballot_sync(0xffffffffu, i < n);
    if (i < n) {
      const std::int32_t key = keys[i];
      const int digit = (key >> shift) & (kBuckets - 1);
      const unsigned peers = __match_any_sync(active, digit);
      const unsigned below = peers & ((1u << lane) - 1u);
      const std::int32_t slot = next[digit] + __popc(below);
      keys_out[slot] = key;
      order_out[slot] = order[i];
      __syncwarp(active);
      if (below == 0) next[digit] += __popc(peers);  // the lowest lane of each digit's group
    }
    __syncwarp();
  }
}

// out (n) = keys (n) clamped into [0, key_count): the sort's first key buffer, so that no key, however wrong, makes a
// histogram count outside its buckets.
__global__ void clamped_keys_kernel(const std::int32_t* keys, std::int64_t n, std::int32_t key_count,
                                    std::int32_t* out) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    out[i] = keys[i] < 0 ? 0 : keys[i] >= key_count ? key_count - 1 : keys[i];
}

__global__ void iota_kernel(std::int32_t* order, std::int64_t n) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    order[i] = static_cast<std::int32_t>(i);
}

__global__ void key_histogram_kernel(const std::int32_t* keys, std::int64_t n, std::int32_t* counts) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    atomicAdd(&counts[keys[i]], 1);
}

int digit_passes(std::int32_t key_count) {
  int passes = 1;
  while (passes < 3 && (static_cast<std::int64_t>(key_count) - 1) >> (8 * passes) > 0) ++passes;
  return passes;
}

}  // namespace

void stable_sort_by_key(const std::int32_t* keys, std::int64_t n, std::int32_t key_count, std::int32_t* order,
                        std::int32_t* starts) {
  static Scratch scratch("stable_sort scratch");
  const std::int64_t tiles = (n + kTile - 1) / kTile;
  const int passes = digit_passes(key_count);
  auto* space = scratch.get<std::int32_t>(static_cast<std::size_t>(3 * n + kBuckets * tiles + 1));
  std::int32_t* counts = space + 3 * n;
  // Each pass reads one (keys, order) pair and writes the other; the positions start in whichever order buffer
  // makes the last pass end in the caller's `order`.
  std::int32_t* key_buffers[2] = {space, space + n};
  std::int32_t* order_buffers[2] = {passes % 2 == 1 ? space + 2 * n : order, passes % 2 == 1 ? order : space + 2 * n};
  if (n > 0) {
    DIVERGE_LAUNCH(clamped_keys_kernel, grid_stride_blocks(n, 256), dim3(256), 0, keys, n, key_count,
                   key_buffers[0]);
    DIVERGE_LAUNCH(iota_kernel, grid_stride_blocks(n, 256), dim3(256), 0, order_buffers[0], n);
  }
  for (int pass = 0; pass < passes && n > 0; ++pass) {
    const int from = pass % 2, to = 1 - from, shift = 8 * pass;
    DIVERGE_LAUNCH(count_digits_kernel, dim3(static_cast<unsigned>(tiles)), dim3(256), 0, key_buffers[from],
                   n, shift, tiles, counts);
    DIVERGE_LAUNCH(exclusive_scan_kernel, dim3(1), dim3(kScanThreads), 0, counts, kBuckets * tiles);
    DIVERGE_LAUNCH(scatter_tile_kernel, dim3(static_cast<unsigned>(tiles)), dim3(32), 0, key_buffers[from],
                   order_buffers[from], n, shift, tiles, counts, key_buffers[to], order_buffers[to]);
  }
  zero(starts, static_cast<std::size_t>(key_count + 1) * sizeof(std::int32_t));
  // The last pass's keys: the clamped keys, sorted, which count the same as in any order.
  if (n > 0)
    DIVERGE_LAUNCH(key_histogram_kernel, grid_stride_blocks(n, 256), dim3(256), 0, key_buffers[passes % 2], n,
                   starts);
  DIVERGE_LAUNCH(exclusive_scan_kernel, dim3(1), dim3(kScanThreads), 0, starts,
                 static_cast<std::int64_t>(key_count) + 1);
}

}  // namespace diverge::cuda
