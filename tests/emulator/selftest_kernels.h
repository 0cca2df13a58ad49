// Kernels that exercise the CUDA execution model: tests/test_emulator.cpp runs them on the emulator and, where a GPU
// is present, on the hardware with the same expectations, which is how the emulator is checked against a GPU.
#pragma once

#include <vector>

namespace diverge::emu_test {

// The sum of each row of x (rows, cols), one block of `threads` threads per row: a grid-stride load, then a
// shared-memory tree reduction with __syncthreads between levels.
std::vector<float> block_row_sums(const std::vector<float>& x, int rows, int cols, int threads);

// One shuffle of every lane's value lane * 10 + 1 over a full warp: mode 0 idx, 1 up, 2 down, 3 xor.
struct ShuffleCase {
  int mode;
  int arg;
  int width;
};
// (cases, 32): what each lane received.
std::vector<int> warp_shuffles(const std::vector<ShuffleCase>& cases);

// Per lane of one warp: __ballot_sync(lane % 3 == 0), __any_sync(lane == 7), __all_sync(lane < 32),
// __all_sync(lane < 31), __match_any_sync(lane / 4), and a shuffle-down sum over the lower half-warp (mask
// 0x0000ffff) while the upper half does the same with its own mask, then __match_any_sync(lane / 8) over lanes 0-19
// while lanes 20-31 wait at a full-warp __syncwarp (0 there).
std::vector<unsigned> warp_votes();

// Every thread writes its index to shared memory and reads its right neighbour's slot, with or without a
// __syncthreads in between; returns how many of `threads` reads saw the neighbour's index.
int neighbour_reads(int threads, bool with_barrier);

// D (16x8) = A (16x16) B (16x8) + C through ldmatrix.x4 (A), ldmatrix.x2.trans (B, stored k-major) and one
// mma.m16n8k16, all row-major, A and B given as floats that bf16 holds exactly.
std::vector<float> mma_tile(const std::vector<float>& a, const std::vector<float>& b, const std::vector<float>& c);

// Two tiles of 32 rows x 4 floats of x (256 floats) through shared memory by cp.async, one commit group each; rows
// from `partial_from` on copy 8 of their 16 bytes (the rest zero-filled). Thread t returns the sums of row t + 1
// (mod 32) of tile 0 and of tile 1 (out[2t], out[2t + 1]), read after cp.async.wait_group 1 and 0 and a barrier; with
// read_early, its own row t of tile 0 before the wait (a race on a GPU; on the emulator, the poison).
std::vector<float> async_copy_sums(const std::vector<float>& x, int partial_from, bool read_early);

// Misuse that the emulator must report (each throws std::runtime_error there; undefined behaviour on a GPU).
void divergent_barrier();     // even threads wait at one __syncthreads, odd ones at another
void barrier_after_exit();    // half the block returns, the other half waits at __syncthreads
void shuffle_outside_mask();  // lanes 0-15 shuffle with mask 0x0000ffff, lane 3 reads lane 20
void different_collectives();  // lanes of one full mask meet at two different __shfl_sync calls
void async_copy_unwaited();    // every thread issues a cp.async and exits without waiting for it
void async_copy_misaligned();  // a cp.async to a shared address 4 bytes past a 16-byte boundary
void out_of_bounds_write();   // one thread writes one element past a device allocation (AddressSanitizer's to find)

}  // namespace diverge::emu_test
