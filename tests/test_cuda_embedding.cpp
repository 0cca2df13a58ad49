// Tests of the CUDA stable key sort and embedding: the sort against std::stable_sort, the gather bit for bit, and
// the backward equal to the CPU's to the bit (each table row sums its tokens in token order, as the CPU does).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "kernels/cuda/stable_sort.h"
#include "kernels/ops.h"
#include "tests/cuda_support.h"

using namespace diverge;

namespace {

std::vector<std::int32_t> random_ids(std::size_t n, std::int32_t range, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::int32_t> ids(n);
  for (auto& id : ids) id = static_cast<std::int32_t>(rng() % static_cast<std::uint32_t>(range));
  return ids;
}

}  // namespace

#ifdef DIVERGE_WITH_CUDA
TEST_CASE("cuda stable sort: positions by key, ties in order, and each key's start" * doctest::test_suite("cuda")) {
  if (!test::cuda_available()) return;
  // One, two and three 8-bit passes; one tile, several, and a partial last chunk.
  for (const auto& [n, key_count] : {std::pair<std::size_t, std::int32_t>{1, 8}, {1000, 8}, {5000, 300},
                                    {3001, 100'000}, {2048, 1}}) {
    CAPTURE(n);
    CAPTURE(key_count);
    const auto keys = random_ids(n, key_count, static_cast<std::uint32_t>(n));
    std::vector<std::int32_t> expected(n);
    std::iota(expected.begin(), expected.end(), 0);
    std::stable_sort(expected.begin(), expected.end(), [&](std::int32_t a, std::int32_t b) { return keys[a] < keys[b]; });
    std::vector<std::int32_t> expected_starts(static_cast<std::size_t>(key_count) + 1, 0);
    for (auto key : keys) ++expected_starts[static_cast<std::size_t>(key) + 1];
    std::partial_sum(expected_starts.begin(), expected_starts.end(), expected_starts.begin());

    Arena arena = test::device_arena((2 * n + key_count + 1) * sizeof(std::int32_t) + 4 * Arena::kAlignment);
    const Tensor d_keys = test::to_device_i32(arena, keys);
    const Tensor d_order = arena.alloc(DType::i32, {static_cast<std::int64_t>(n)});
    const Tensor d_starts = arena.alloc(DType::i32, {static_cast<std::int64_t>(key_count) + 1});
    cuda::stable_sort_by_key(static_cast<const std::int32_t*>(d_keys.data), static_cast<std::int64_t>(n), key_count,
                             static_cast<std::int32_t*>(d_order.data), static_cast<std::int32_t*>(d_starts.data));
    CHECK(test::i32_to_host(d_order) == expected);
    CHECK(test::i32_to_host(d_starts) == expected_starts);
  }
}
#endif

TEST_CASE("cuda embedding: the gather is exact, and the backward equals the CPU's bit for bit" *
          doctest::test_suite("cuda")) {
  if (!test::cuda_available()) return;
  for (const auto& [n, vocab] : {std::pair<std::int64_t, std::int64_t>{3000, 50}, {200, 5000}, {1, 7}}) {
    CAPTURE(n);
    CAPTURE(vocab);
    const std::int64_t dim = 40;
    const auto ids = random_ids(static_cast<std::size_t>(n), static_cast<std::int32_t>(vocab), 5);
    auto table = test::rounded_to_bf16(test::normal_values(static_cast<std::size_t>(vocab * dim), 1, 1.0f));
    auto dout = test::rounded_to_bf16(test::normal_values(static_cast<std::size_t>(n * dim), 2, 1.0f));
    auto dtable = test::normal_values(static_cast<std::size_t>(vocab * dim), 3, 0.1f);
    std::vector<float> out(static_cast<std::size_t>(n * dim));
    auto host_ids = ids;
    const Tensor cpu_ids = make_view(host_ids.data(), DType::i32, Device::cpu, {n});
    ops::embedding(cpu_ids, test::host_tensor(table, {vocab, dim}), test::host_tensor(out, {n, dim}));

    Arena arena = test::device_arena(static_cast<std::size_t>(4 * (n + 2 * vocab) * dim + n) * 4 +
                                     8 * Arena::kAlignment);
    const Tensor d_ids = test::to_device_i32(arena, ids), d_table = test::to_device_bf16(arena, table, {vocab, dim}),
                 d_out = arena.alloc(DType::bf16, {n, dim}), d_dout = test::to_device_bf16(arena, dout, {n, dim}),
                 d_dtable = test::to_device(arena, dtable, {vocab, dim});
    ops::embedding(d_ids, d_table, d_out);
    CHECK(test::bf16_to_host(d_out) == out);

    ops::embedding_backward(cpu_ids, test::host_tensor(dout, {n, dim}), test::host_tensor(dtable, {vocab, dim}));
    ops::embedding_backward(d_ids, d_dout, d_dtable);
    CHECK(test::to_host(d_dtable) == dtable);
  }
}

TEST_CASE("cuda embedding: an id outside the vocabulary gives a NaN row, never a stray write" *
          doctest::test_suite("cuda")) {
  if (!test::cuda_available()) return;
  const std::int64_t vocab = 10, dim = 8;
  const std::vector<std::int32_t> ids{3, 10, -1, 3};
  Arena arena = test::device_arena(4096 + 8 * Arena::kAlignment);
  const Tensor d_ids = test::to_device_i32(arena, ids),
               d_table = test::to_device_bf16(arena, std::vector<float>(vocab * dim, 1.0f), {vocab, dim}),
               d_out = arena.alloc(DType::bf16, {4, dim}),
               d_dout = test::to_device_bf16(arena, std::vector<float>(4 * dim, 2.0f), {4, dim}),
               d_dtable = test::to_device(arena, std::vector<float>(vocab * dim, 0.0f), {vocab, dim});
  ops::embedding(d_ids, d_table, d_out);
  const auto out = test::bf16_to_host(d_out);
  CHECK(out[0] == 1.0f);
  CHECK(std::isnan(out[dim]));
  CHECK(std::isnan(out[2 * dim]));
  ops::embedding_backward(d_ids, d_dout, d_dtable);
  const auto dtable = test::to_host(d_dtable);
  for (std::int64_t v = 0; v < vocab; ++v)
    CHECK(dtable[static_cast<std::size_t>(v * dim)] == (v == 3 ? 4.0f : 0.0f));
}
