// Tests for the single-process Comm: collectives over a group of one are identities or copies, misuse is refused.
#include <doctest/doctest.h>

#include <vector>

#include "engine/comm/comm.h"
#include "engine/error.h"

using namespace diverge;

TEST_CASE("a group of one: allreduce keeps values, gathers and all-to-all copy, bad counts are errors") {
  auto comm = make_single_process_comm();
  CHECK(comm->rank() == 0);
  CHECK(comm->size() == 1);
  std::vector<float> a{1, 2, 3, 4}, b(4, 0.0f);
  Tensor ta = make_view(a.data(), DType::f32, Device::cpu, {2, 2});
  Tensor tb = make_view(b.data(), DType::f32, Device::cpu, {2, 2});
  comm->allreduce(ta, ReduceOp::sum);
  CHECK(a == std::vector<float>{1, 2, 3, 4});
  comm->allgather(ta, tb);
  CHECK(b == a);
  std::fill(b.begin(), b.end(), 0.0f);
  std::vector<std::int64_t> one{1};
  comm->all_to_all_v(ta, one, tb, one);
  CHECK(b == std::vector<float>{1, 2, 0, 0});
  std::vector<std::int64_t> three{3};
  CHECK_THROWS_AS(comm->all_to_all_v(ta, three, tb, three), Error);
  CHECK_THROWS_AS(comm->broadcast(ta, 1), Error);
  std::vector<float> small(2);
  CHECK_THROWS_AS(comm->allgather(ta, make_view(small.data(), DType::f32, Device::cpu, {2})), Error);
}
