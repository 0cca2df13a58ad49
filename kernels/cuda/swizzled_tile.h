// Shared-memory tiles for the tensor-core kernels: bf16 rows in 16-byte chunks, XOR-swizzled so that the eight rows an
// ldmatrix matrix reads at one chunk fall into different banks without padding.
#pragma once

#include <cstdint>
#include <cstring>

#include "kernels/cuda/bf16_bits.h"
#include "kernels/cuda/cuda_source.h"

namespace diverge::cuda {

constexpr int kChunk = 8;  // bf16 per 16-byte chunk: one cp.async, one row of an ldmatrix matrix

// Rows x Cols bf16. A row of 8 or more chunks spans the 32 banks: chunk c of row r lives at chunk c ^ (r % 8). A row of
// 4 chunks is half the banks, two rows share them: chunk c of row r lives at c ^ ((r / 2) % 4).
template <int Rows, int Cols>
struct SwizzledTile {
  static constexpr int kChunks = Cols / kChunk;
  static_assert(Cols % kChunk == 0 && (kChunks == 4 || kChunks % 8 == 0), "rows of 4 or a multiple of 8 chunks");
  bf16_bits data[Rows * Cols];

  __device__ __forceinline__ bf16_bits* chunk(int row, int c) {
    const int swizzled = kChunks == 4 ? c ^ ((row / 2) % 4) : c ^ (row % 8);
    return data + row * Cols + swizzled * kChunk;
  }
};

// Two floats rounded to bf16 (to nearest even) in one register, the lower one in the low half: an mma operand pair.
__device__ __forceinline__ std::uint32_t pack_bf16x2(float low, float high) {
  const __nv_bfloat162 pair = __floats2bfloat162_rn(low, high);
  std::uint32_t bits;
  std::memcpy(&bits, &pair, sizeof bits);
  return bits;
}

// Whether p may be a cp.async source or destination.
inline bool aligned_16(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; }

}  // namespace diverge::cuda
