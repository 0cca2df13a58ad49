// Tests for the world's Comm at any size: run alone (the single process) and under mpirun at 2 and 4 ranks (the MPI
// group), every collective on host tensors against values each rank can compute for itself (comm_checks.h), zero
// counts and split groups included; the groups by role, and each rank's place on its host.
#include <doctest/doctest.h>

#include <vector>

#include "engine/comm/host_place.h"
#include "engine/comm/process_groups.h"
#include "engine/comm/world.h"
#include "engine/error.h"
#include "tests/comm_checks.h"

using namespace diverge;

namespace {

std::vector<std::int32_t> range_of(int first, int count, int stride) {
  std::vector<std::int32_t> out;
  for (int i = 0; i < count; ++i) out.push_back(first + i * stride);
  return out;
}

}  // namespace

TEST_CASE("world comm: allreduce sums and maxima in f32, f64 and i32 over every rank") {
  test::check_allreduce(world_comm(), Device::cpu);
}

TEST_CASE("world comm: reduce_scatter, allgather and broadcast place every rank's slice") {
  test::check_scatter_gather_broadcast(world_comm(), Device::cpu);
}

TEST_CASE("world comm: all_to_all_v delivers every row to its rank in place, zero counts included") {
  test::check_all_to_all_v(world_comm(), Device::cpu);
}

TEST_CASE("world comm: split groups by color, ordered by key") { test::check_split(world_comm(), Device::cpu); }

TEST_CASE("world comm: the MPI group refuses a device tensor by name, and a bf16 reduction") {
  Comm& world = world_comm();
  if (world.size() == 1) return;  // a group of one never touches the data
  float host = 0.0f;
  const Tensor on_device = make_view(&host, DType::f32, Device::cuda, {1});
  CHECK_THROWS_WITH_AS(world.allreduce(on_device, ReduceOp::sum), doctest::Contains("f32 cuda (1)"), Error);
  CHECK_THROWS_WITH_AS(world.broadcast(on_device, 0), doctest::Contains("device memory"), Error);
  std::vector<std::uint16_t> half(2);
  CHECK_THROWS_WITH_AS(world.allreduce(make_view(half.data(), DType::bf16, Device::cpu, {2}), ReduceOp::sum),
                       doctest::Contains("bf16"), Error);
  world.barrier();
}

TEST_CASE("process groups: dp is every rank, ep consecutive ranks, edp the ranks with the same experts") {
  Comm& world = world_comm();
  const int n = world.size(), r = world.rank();
  for (const int ep : {1, 2, 4}) {
    if (n % ep != 0) {
      CHECK_THROWS_WITH_AS(ProcessGroups(world, ep), doctest::Contains("parallel.ep"), Error);
      continue;
    }
    const ProcessGroups groups(world, ep);
    CHECK(test::members(groups.world(), r, Device::cpu) == range_of(0, n, 1));
    CHECK(test::members(groups.dp(), r, Device::cpu) == range_of(0, n, 1));
    CHECK(test::members(groups.ep(), r, Device::cpu) == range_of(r / ep * ep, ep, 1));
    CHECK(test::members(groups.edp(), r, Device::cpu) == range_of(r % ep, n / ep, ep));
  }
}

TEST_CASE("host place: every rank of this host in world order, and an odd-even split counted within itself") {
  Comm& world = world_comm();
  const int n = world.size(), r = world.rank();
  const HostPlace place = host_place(world);  // the tests' ranks all run on this host
  CHECK(place.rank == r);
  CHECK(place.ranks == n);
  const std::unique_ptr<Comm> parity = world.split(r % 2, r);
  const HostPlace within = host_place(*parity);
  CHECK(within.rank == r / 2);
  CHECK(within.ranks == parity->size());
}
