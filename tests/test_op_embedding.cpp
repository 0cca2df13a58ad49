// Tests for the embedding op: gather forward, scatter-add backward (repeated ids, finite differences), bad ids.
#include <doctest/doctest.h>

#include <omp.h>

#include "kernels/cpu/embedding.h"
#include "kernels/ops.h"
#include "tests/gradcheck.h"

using namespace diverge;
using namespace diverge::test;

TEST_CASE("embedding forward copies the rows named by the ids") {
  const std::vector<std::int32_t> ids = {2, 0, 2, 1};
  const auto table = random_values(3 * 5, 1);
  std::vector<double> out(4 * 5);
  cpu::embedding_forward(ids.data(), 4, table.data(), 3, 5, out.data());
  for (std::size_t i = 0; i < 4; ++i)
    for (std::size_t c = 0; c < 5; ++c) CHECK(out[i * 5 + c] == table[static_cast<std::size_t>(ids[i]) * 5 + c]);
}

TEST_CASE("embedding backward adds every token's gradient into its row (finite differences)") {
  const std::vector<std::int32_t> ids = {2, 0, 2, 2, 1, 0};
  auto table = random_values(4 * 3, 2);
  const auto weights = random_values(6 * 3, 3);
  auto loss = [&] {
    std::vector<double> out(6 * 3);
    cpu::embedding_forward(ids.data(), 6, table.data(), 4, 3, out.data());
    return dot(out, weights);
  };
  std::vector<double> dtable(table.size(), 0.0);
  cpu::embedding_backward(ids.data(), 6, weights.data(), 4, 3, dtable.data());
  CHECK(max_rel_error(dtable, numeric_gradient(table, loss)) < 1e-6);
  for (std::size_t c = 0; c < 3; ++c) CHECK(dtable[3 * 3 + c] == 0.0);  // row 3 is never used
}

TEST_CASE("embedding backward is identical for any thread count") {
  const std::int64_t n = 300, vocab = 7, dim = 200;
  std::vector<std::int32_t> ids(static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<std::int32_t>((i * 5) % vocab);
  const auto dout = to_float(random_values(static_cast<std::size_t>(n * dim), 4));
  std::vector<float> one(static_cast<std::size_t>(vocab * dim), 0.0f), many(one);
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  cpu::embedding_backward(ids.data(), n, dout.data(), vocab, dim, one.data());
  omp_set_num_threads(3);
  cpu::embedding_backward(ids.data(), n, dout.data(), vocab, dim, many.data());
  omp_set_num_threads(threads);
  CHECK(one == many);
}

TEST_CASE("embedding op checks ids and shapes") {
  std::vector<std::int32_t> ids = {0, 1, 5, 2};
  std::vector<float> table(4 * 3, 1.0f), out(4 * 3, 0.0f);
  Tensor tids = make_view(ids.data(), DType::i32, Device::cpu, {2, 2});
  Tensor ttable = make_view(table.data(), DType::f32, Device::cpu, {4, 3});
  Tensor tout = make_view(out.data(), DType::f32, Device::cpu, {2, 2, 3});
  CHECK(error_message([&] { ops::embedding(tids, ttable, tout); }) ==
        "embedding: token id 5 at position 2 is outside [0, 4)");
  ids[2] = 3;
  ops::embedding(tids, ttable, tout);
  CHECK(out[7] == 1.0f);
  Tensor flat_out = make_view(out.data(), DType::f32, Device::cpu, {4, 3});
  CHECK(contains(error_message([&] { ops::embedding(tids, ttable, flat_out); }),
                 "embedding: out: expected 3 dimensions"));
  Tensor float_ids = make_view(table.data(), DType::f32, Device::cpu, {2, 2});
  CHECK(contains(error_message([&] { ops::embedding(float_ids, ttable, tout); }), "embedding: ids: expected i32"));
}
