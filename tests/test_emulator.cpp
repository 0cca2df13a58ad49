// Tests of the CUDA emulator (tests/emulator): block and warp semantics on its self-test kernels, and that misuse of
// barriers and warp collectives is reported. On a GPU the semantic tests run on the hardware with the same
// expectations, which checks the emulator against it; the misuse tests are the emulator's alone.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <numeric>

#include "kernels/cuda/device_info.h"
#include "kernels/cuda/memory.h"
#include "tests/support.h"

#if defined(DIVERGE_CUDA_EMULATOR) || defined(DIVERGE_WITH_CUDA)
#include <cuda_runtime_api.h>

#include "tests/emulator/selftest_kernels.h"
#ifdef DIVERGE_CUDA_EMULATOR
#include "tests/emulator/cuda_emulator.h"
#endif

using namespace diverge;

namespace {

// What __shfl*_sync gives lane `lane` when every lane offers lane * 10 + 1 (CUDA Programming Guide, warp shuffle
// functions): segments of `width` lanes; up/down/xor sources outside the segment (for xor: above it) keep their own.
int expected_shuffle(const emu_test::ShuffleCase& c, int lane) {
  const int first = lane & ~(c.width - 1), last = first + c.width - 1;
  int source = lane;
  if (c.mode == 0) source = first + (c.arg & (c.width - 1));
  if (c.mode == 1 && lane - c.arg >= first) source = lane - c.arg;
  if (c.mode == 2 && lane + c.arg <= last) source = lane + c.arg;
  if (c.mode == 3 && (lane ^ c.arg) <= last) source = lane ^ c.arg;
  return source * 10 + 1;
}

// 64 floats set to zero on `producer`, then copied to a second buffer on `consumer`, which waits for the set through
// an event when `ordered`: what the copy delivered, read after both streams finished.
std::vector<float> set_then_copy(cudaStream_t producer, cudaStream_t consumer, bool ordered) {
  constexpr std::size_t kBytes = 64 * sizeof(float);
  void* from = nullptr;
  void* to = nullptr;
  REQUIRE(cudaMalloc(&from, kBytes) == cudaSuccess);
  REQUIRE(cudaMalloc(&to, kBytes) == cudaSuccess);
  REQUIRE(cudaMemsetAsync(from, 0, kBytes, producer) == cudaSuccess);
  cudaEvent_t set = nullptr;
  REQUIRE(cudaEventCreate(&set) == cudaSuccess);
  if (ordered) {
    REQUIRE(cudaEventRecord(set, producer) == cudaSuccess);
    REQUIRE(cudaStreamWaitEvent(consumer, set, 0) == cudaSuccess);
  }
  REQUIRE(cudaMemcpyAsync(to, from, kBytes, cudaMemcpyDeviceToDevice, consumer) == cudaSuccess);
  REQUIRE(cudaStreamSynchronize(consumer) == cudaSuccess);
  REQUIRE(cudaStreamSynchronize(producer) == cudaSuccess);
  std::vector<float> out(64);
  REQUIRE(cudaMemcpy(out.data(), to, kBytes, cudaMemcpyDeviceToHost) == cudaSuccess);
  cudaEventDestroy(set);
  cudaFree(from);
  cudaFree(to);
  return out;
}

// Two streams of this test's own, after the context's (the emulator's deferral policy counts streams in creation
// order, the context's compute stream first).
struct TwoStreams {
  cudaStream_t a = nullptr;
  cudaStream_t b = nullptr;
  TwoStreams() {
    cuda::synchronize();
    cudaStreamCreateWithFlags(&a, cudaStreamNonBlocking);
    cudaStreamCreateWithFlags(&b, cudaStreamNonBlocking);
  }
  ~TwoStreams() {
    cudaStreamDestroy(a);
    cudaStreamDestroy(b);
  }
};

bool has_device() {
  if (cuda::device_count() > 0) return true;
  MESSAGE("no CUDA device and not the emulator: skipped");
  return false;
}

}  // namespace

TEST_CASE("emulator: a shared-memory block reduction with __syncthreads sums every row" * doctest::test_suite("cuda")) {
  if (!has_device()) return;
  for (int threads : {32, 128, 256}) {
    const int rows = 5, cols = 1000;
    std::vector<float> x(static_cast<std::size_t>(rows * cols));
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(static_cast<int>(i % 17) - 8);
    const auto sums = emu_test::block_row_sums(x, rows, cols, threads);
    for (int r = 0; r < rows; ++r) {
      const float expected = std::accumulate(x.begin() + r * cols, x.begin() + (r + 1) * cols, 0.0f);
      CHECK(sums[static_cast<std::size_t>(r)] == expected);  // small integers: every order sums exactly
    }
  }
}

TEST_CASE("emulator: shuffles follow the PTX segment rules for every mode and width" * doctest::test_suite("cuda")) {
  if (!has_device()) return;
  std::vector<emu_test::ShuffleCase> cases;
  for (int width : {32, 16, 8, 4, 2, 1})
    for (int arg : {0, 1, 3, 5, 17, 31}) {
      cases.push_back({0, arg, width});
      cases.push_back({3, arg, width});
      if (arg < width || arg < 32) {
        cases.push_back({1, arg, width});
        cases.push_back({2, arg, width});
      }
    }
  const auto got = emu_test::warp_shuffles(cases);
  for (std::size_t i = 0; i < cases.size(); ++i)
    for (int lane = 0; lane < 32; ++lane) {
      CAPTURE(cases[i].mode);
      CAPTURE(cases[i].arg);
      CAPTURE(cases[i].width);
      CAPTURE(lane);
      CHECK(got[i * 32 + static_cast<std::size_t>(lane)] == expected_shuffle(cases[i], lane));
    }
}

TEST_CASE("emulator: ballot, any, all, match, and collectives of different masks pending at once" *
          doctest::test_suite("cuda")) {
  if (!has_device()) return;
  const auto got = emu_test::warp_votes();
  unsigned every_third = 0;
  for (unsigned lane = 0; lane < 32; lane += 3) every_third |= 1u << lane;
  for (unsigned lane = 0; lane < 32; ++lane) {
    CAPTURE(lane);
    const unsigned* mine = got.data() + 7 * lane;
    CHECK(mine[0] == every_third);
    CHECK(mine[1] == 1);
    CHECK(mine[2] == 1);
    CHECK(mine[3] == 0);
    CHECK(mine[4] == 0xfu << (lane / 4 * 4));
    // A shuffle-down tree over 16 lanes leaves the segment's sum in its first lane.
    if (lane == 0) CHECK(mine[5] == 120);
    if (lane == 16) CHECK(mine[5] == 376);
    const unsigned group = lane < 16 ? 0xffu << (lane / 8 * 8) : 0x000f0000u;
    CHECK(mine[6] == (lane < 20 ? group : 0u));
  }
}

TEST_CASE("emulator: with __syncthreads every neighbour read sees the write" * doctest::test_suite("cuda")) {
  if (!has_device()) return;
  CHECK(emu_test::neighbour_reads(256, true) == 256);
}

TEST_CASE("emulator: ldmatrix and mma.m16n8k16 compute a 16x16 by 16x8 tile as a plain GEMM does" *
          doctest::test_suite("cuda")) {
  if (!has_device()) return;
  std::vector<float> a(16 * 16), b(16 * 8), c(16 * 8);
  for (int i = 0; i < 16 * 16; ++i) a[static_cast<std::size_t>(i)] = static_cast<float>((i * 7) % 11 - 5);
  for (int i = 0; i < 16 * 8; ++i) b[static_cast<std::size_t>(i)] = static_cast<float>((i * 5) % 9 - 4);
  for (int i = 0; i < 16 * 8; ++i) c[static_cast<std::size_t>(i)] = static_cast<float>(i % 5) - 2.5f;
  const auto d = emu_test::mma_tile(a, b, c);
  for (int row = 0; row < 16; ++row)
    for (int col = 0; col < 8; ++col) {
      float expected = c[static_cast<std::size_t>(row * 8 + col)];
      for (int k = 0; k < 16; ++k)
        expected += a[static_cast<std::size_t>(row * 16 + k)] * b[static_cast<std::size_t>(k * 8 + col)];
      CAPTURE(row);
      CAPTURE(col);
      // Small integers and halves: every product and partial sum is exact, whatever the hardware's order.
      CHECK(d[static_cast<std::size_t>(row * 8 + col)] == expected);
    }
}

// x[i] = i: the sums of a row's four floats, or of its first two where the copy was partial.
float expected_row_sum(int tile, int row, int partial_from) {
  const float first = static_cast<float>(tile * 128 + row * 4);
  return row >= partial_from ? 2 * first + 1 : 4 * first + 6;
}

TEST_CASE("emulator: cp.async fills shared memory by commit groups, zero-filling a partial copy" *
          doctest::test_suite("cuda")) {
  if (!has_device()) return;
  std::vector<float> x(256);
  std::iota(x.begin(), x.end(), 0.0f);
  const int partial_from = 24;
  const std::vector<float> sums = emu_test::async_copy_sums(x, partial_from, false);
  for (int t = 0; t < 32; ++t) {
    CAPTURE(t);
    const int row = (t + 1) % 32;
    CHECK(sums[static_cast<std::size_t>(2 * t)] == expected_row_sum(0, row, partial_from));
    CHECK(sums[static_cast<std::size_t>(2 * t + 1)] == expected_row_sum(1, row, partial_from));
  }
}

TEST_CASE("emulator: work on one stream ordered after another's by an event sees its writes" *
          doctest::test_suite("cuda")) {
  if (!has_device()) return;
  const TwoStreams streams;
  for (float x : set_then_copy(streams.a, streams.b, true)) CHECK(x == 0.0f);
  for (float x : set_then_copy(streams.b, streams.a, true)) CHECK(x == 0.0f);
}

#ifdef DIVERGE_CUDA_EMULATOR

TEST_CASE("emulator: a deferred stream shows a missing event between two streams as wrong reads" *
          doctest::test_suite("cuda")) {
  // The producer's set waits in its queue until something waits for it: a consumer that does not wait copies the
  // poison, one that waits through the event runs the set first.
  const TwoStreams streams;
  emu::defer_stream(streams.a, true);
  for (float x : set_then_copy(streams.a, streams.b, false)) CHECK(std::isnan(x));
  for (float x : set_then_copy(streams.a, streams.b, true)) CHECK(x == 0.0f);
  // An eager producer hides the missing event, which is why CI runs the multi-stream tests under both policies.
  emu::defer_stream(streams.a, false);
  for (float x : set_then_copy(streams.a, streams.b, false)) CHECK(x == 0.0f);
}

TEST_CASE("emulator: reading a cp.async tile before its wait shows up as wrong reads" * doctest::test_suite("cuda")) {
  // The emulator writes shared memory only at the wait: the early reads see the poison, the later ones the tile.
  std::vector<float> x(256);
  std::iota(x.begin(), x.end(), 0.0f);
  const std::vector<float> sums = emu_test::async_copy_sums(x, 32, true);
  for (int t = 0; t < 32; ++t) {
    CAPTURE(t);
    CHECK(std::isnan(sums[static_cast<std::size_t>(2 * t)]));
    CHECK(sums[static_cast<std::size_t>(2 * t + 1)] == expected_row_sum(1, (t + 1) % 32, 32));
  }
}

TEST_CASE("emulator: a missing __syncthreads shows up as wrong reads" * doctest::test_suite("cuda")) {
  // The random schedule runs many readers before their neighbour wrote; poisoned shared memory makes them wrong.
  const int seen = emu_test::neighbour_reads(256, false);
  MESSAGE("reads that saw the neighbour's write without a barrier: " << seen << " of 256");
  CHECK(seen < 200);
}

TEST_CASE("emulator: misused barriers and warp collectives are errors naming the kernel and line" *
          doctest::test_suite("cuda")) {
  CHECK_THROWS_WITH(emu_test::divergent_barrier(),
                    doctest::Contains("threads wait at different __syncthreads"));
  CHECK_THROWS_WITH(emu_test::divergent_barrier(), doctest::Contains("kernel 'divergent_barrier_kernel'"));
  CHECK_THROWS_WITH(emu_test::barrier_after_exit(), doctest::Contains("reached by 32 of 64 threads"));
  CHECK_THROWS_WITH(emu_test::shuffle_outside_mask(),
                    doctest::Contains("lane 3 reads lane 20, outside the mask 0x0000ffff"));
  CHECK_THROWS_WITH(emu_test::shuffle_outside_mask(), doctest::Contains("selftest_kernels.cu:"));
  CHECK_THROWS_WITH(emu_test::different_collectives(),
                    doctest::Contains("the lanes of one mask must meet at the same collective"));
  CHECK_THROWS_WITH(emu_test::async_copy_unwaited(), doctest::Contains("never waited for (cp.async.wait_group)"));
  CHECK_THROWS_WITH(emu_test::async_copy_unwaited(), doctest::Contains("selftest_kernels.cu:"));
  CHECK_THROWS_WITH(emu_test::async_copy_misaligned(), doctest::Contains("needs 16-byte aligned addresses"));
  // The emulator stays usable after a fault.
  CHECK(emu_test::neighbour_reads(64, true) == 64);
}

#if defined(__SANITIZE_ADDRESS__)
TEST_CASE("emulator: an out-of-bounds write in a kernel is reported by AddressSanitizer at the kernel's line" *
          doctest::test_suite("cuda")) {
  if (std::getenv("DIVERGE_EMU_OOB_CHILD") != nullptr) {
    emu_test::out_of_bounds_write();
    return;
  }
  const auto self = std::filesystem::read_symlink("/proc/self/exe").string();
  const auto result = test::run_command("DIVERGE_EMU_OOB_CHILD=1 '" + self +
                                        "' --test-case='*out-of-bounds write*' --no-intro 2>&1");
  CHECK(result.exit_code != 0);
  CHECK_MESSAGE(result.output.find("heap-buffer-overflow") != std::string::npos, result.output);
  CHECK_MESSAGE(result.output.find("out_of_bounds_kernel") != std::string::npos, result.output);
}
#endif

#endif  // DIVERGE_CUDA_EMULATOR
#endif  // DIVERGE_CUDA_EMULATOR || DIVERGE_WITH_CUDA
