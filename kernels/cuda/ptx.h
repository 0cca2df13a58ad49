// Tensor-core and asynchronous-copy instructions as small helpers: inline PTX on the GPU, a twin on the emulator.
// Kernels use these and never write inline PTX of their own, so that everything they do runs in CI.
#pragma once

#include <cstdint>

#include "kernels/cuda/cuda_source.h"

namespace diverge::cuda {

// D (16x8, f32) = A (16x16, bf16, row-major) x B (16x8, bf16, column-major) + C for one warp:
// mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32. Fragments follow the PTX ISA ("Matrix Fragments for
// mma.m16n8k16"), with g = lane / 4, t = lane % 4 and two bf16 per register, the lower column (row for B) in the low
// half: a[0] = A[g][2t..2t+1], a[1] = A[g+8][2t..2t+1], a[2] = A[g][2t+8..2t+9], a[3] = A[g+8][2t+8..2t+9];
// b[0] = B[2t..2t+1][g], b[1] = B[2t+8..2t+9][g]; c and d: [0], [1] = row g, columns 2t, 2t+1; [2], [3] = row g+8.
__device__ __forceinline__ void mma_m16n8k16_bf16(float (&d)[4], const std::uint32_t (&a)[4],
                                                  const std::uint32_t (&b)[2], const float (&c)[4]) {
#ifdef DIVERGE_CUDA_EMULATOR
  emu::mma_m16n8k16_bf16(d, a, b, c, std::source_location::current());
#else
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%10, %11, %12, %13};\n"
      : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c[0]), "f"(c[1]), "f"(c[2]),
        "f"(c[3]));
#endif
}

// ldmatrix.sync.aligned.m8n8.xN(.trans).shared.b16 for N = 1, 2, 4 8x8 matrices of 16-bit elements, one warp: lanes
// 8m..8m+7 give the addresses of the eight 16-byte rows of matrix m (in shared memory); every lane receives in r[m]
// row lane / 4, elements 2 (lane % 4) and 2 (lane % 4) + 1 of matrix m, or of its transpose with Trans.
template <int N, bool Trans>
__device__ __forceinline__ void ldmatrix(std::uint32_t (&r)[N], const void* row_address) {
  static_assert(N == 1 || N == 2 || N == 4, "ldmatrix loads 1, 2 or 4 matrices");
#ifdef DIVERGE_CUDA_EMULATOR
  emu::ldmatrix(r, N, Trans, row_address, std::source_location::current());
#else
  const auto address = static_cast<std::uint32_t>(__cvta_generic_to_shared(row_address));
  if constexpr (N == 1 && !Trans)
    asm volatile("ldmatrix.sync.aligned.m8n8.x1.shared.b16 {%0}, [%1];\n" : "=r"(r[0]) : "r"(address));
  else if constexpr (N == 1)
    asm volatile("ldmatrix.sync.aligned.m8n8.x1.trans.shared.b16 {%0}, [%1];\n" : "=r"(r[0]) : "r"(address));
  else if constexpr (N == 2 && !Trans)
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0, %1}, [%2];\n"
                 : "=r"(r[0]), "=r"(r[1])
                 : "r"(address));
  else if constexpr (N == 2)
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0, %1}, [%2];\n"
                 : "=r"(r[0]), "=r"(r[1])
                 : "r"(address));
  else if constexpr (!Trans)
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(address));
  else
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(address));
#endif
}

// cp.async.cg.shared.global: 16 bytes from global to shared memory without passing through registers, in flight
// until a cp_async_wait retires its group. source_bytes < 16 reads only that many and zero-fills the rest (0: the
// zero tile past a matrix's edge, without reading the source). Both addresses 16-byte aligned.
__device__ __forceinline__ void cp_async_16(void* shared_destination, const void* global_source,
                                            unsigned source_bytes = 16) {
#ifdef DIVERGE_CUDA_EMULATOR
  emu::cp_async(shared_destination, global_source, source_bytes, std::source_location::current());
#else
  const auto address = static_cast<std::uint32_t>(__cvta_generic_to_shared(shared_destination));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(address), "l"(global_source), "r"(source_bytes));
#endif
}

// cp.async.commit_group: the copies this thread issued since the last commit become one group.
__device__ __forceinline__ void cp_async_commit() {
#ifdef DIVERGE_CUDA_EMULATOR
  emu::cp_async_commit();
#else
  asm volatile("cp.async.commit_group;\n" ::);
#endif
}

// cp.async.wait_group Pending: waits until at most the Pending most recent groups of this thread are in flight. The
// copies are then visible to this thread; a __syncthreads makes them visible to the block.
template <int Pending>
__device__ __forceinline__ void cp_async_wait() {
#ifdef DIVERGE_CUDA_EMULATOR
  emu::cp_async_wait(Pending, std::source_location::current());
#else
  asm volatile("cp.async.wait_group %0;\n" ::"n"(Pending));
#endif
}

}  // namespace diverge::cuda
