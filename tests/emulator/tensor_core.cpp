// The emulated tensor-core instructions: mma.m16n8k16 (bf16 in, f32 accumulate) and ldmatrix, from the PTX ISA's
// fragment layouts, as warp collectives over the lanes' registers.
#include <cstring>

#include "tests/emulator/block.h"

namespace diverge::emu {
namespace {

constexpr unsigned kFullWarp = 0xffffffffu;

float bf16_at(std::uint32_t packed, int half) {
  const auto bits = static_cast<std::uint32_t>(half == 0 ? packed & 0xffffu : packed >> 16) << 16;
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

std::uint32_t float_bits(float value) {
  std::uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}

// Lane inputs: a[0..3] in words 0-3, b[0..1] in 4-5, c[0..3] in 6-9; outputs d[0..3].
std::string combine_mma(WarpRound& round) {
  float a[16][16], b[16][8], c[16][8];
  for (int lane = 0; lane < 32; ++lane) {
    const int g = lane / 4, t = lane % 4;
    const LaneWords& in = round.in[lane];
    for (int half = 0; half < 2; ++half) {
      a[g][2 * t + half] = bf16_at(in[0], half);
      a[g + 8][2 * t + half] = bf16_at(in[1], half);
      a[g][2 * t + 8 + half] = bf16_at(in[2], half);
      a[g + 8][2 * t + 8 + half] = bf16_at(in[3], half);
      b[2 * t + half][g] = bf16_at(in[4], half);
      b[2 * t + 8 + half][g] = bf16_at(in[5], half);
    }
    for (int i = 0; i < 4; ++i) {
      float value;
      std::memcpy(&value, &in[6 + i], sizeof value);
      c[g + (i / 2) * 8][2 * t + i % 2] = value;
    }
  }
  for (int lane = 0; lane < 32; ++lane) {
    const int g = lane / 4, t = lane % 4;
    for (int i = 0; i < 4; ++i) {
      const int row = g + (i / 2) * 8, col = 2 * t + i % 2;
      float sum = c[row][col];
      for (int k = 0; k < 16; ++k) sum += a[row][k] * b[k][col];
      round.out[lane][i] = float_bits(sum);
    }
  }
  return {};
}

// Lane inputs: its row address in words 0-1, the matrix count in 2, transpose in 3; outputs r[0..count).
std::string combine_ldmatrix(WarpRound& round) {
  const int matrices = static_cast<int>(round.in[0][2]);
  const bool transpose = round.in[0][3] != 0;
  auto row_of = [&](int matrix, int row) {
    const LaneWords& in = round.in[matrix * 8 + row];
    return reinterpret_cast<const std::uint16_t*>(in[0] | (static_cast<std::uintptr_t>(in[1]) << 32));
  };
  for (int lane = 0; lane < 32; ++lane) {
    const int g = lane / 4, t = lane % 4;
    for (int m = 0; m < matrices; ++m) {
      std::uint16_t low, high;
      if (transpose) {
        low = row_of(m, 2 * t)[g];
        high = row_of(m, 2 * t + 1)[g];
      } else {
        low = row_of(m, g)[2 * t];
        high = row_of(m, g)[2 * t + 1];
      }
      round.out[lane][m] = low | (static_cast<std::uint32_t>(high) << 16);
    }
  }
  return {};
}

}  // namespace

void mma_m16n8k16_bf16(float* d, const std::uint32_t* a, const std::uint32_t* b, const float* c,
                       std::source_location where) {
  LaneWords in{};
  for (int i = 0; i < 4; ++i) in[i] = a[i];
  in[4] = b[0];
  in[5] = b[1];
  for (int i = 0; i < 4; ++i) in[6 + i] = float_bits(c[i]);
  const LaneWords out = warp_collective(kFullWarp, "mma.sync.m16n8k16", where, 32, in, &combine_mma);
  std::memcpy(d, out.data(), 4 * sizeof(float));
}

void ldmatrix(std::uint32_t* r, int matrices, bool transpose, const void* row_address, std::source_location where) {
  LaneWords in{};
  const auto address = reinterpret_cast<std::uintptr_t>(row_address);
  in[0] = static_cast<std::uint32_t>(address);
  in[1] = static_cast<std::uint32_t>(address >> 32);
  in[2] = static_cast<std::uint32_t>(matrices);
  in[3] = transpose ? 1 : 0;
  const LaneWords out = warp_collective(kFullWarp, "ldmatrix", where, 32, in, &combine_ldmatrix);
  for (int m = 0; m < matrices; ++m) r[m] = out[m];
}

}  // namespace diverge::emu
