// Tests for the world's Comm at any size: run alone (the single process) and under mpirun at 2 and 4 ranks (the MPI
// group), every collective against values each rank can compute for itself, zero counts and split groups included.
#include <doctest/doctest.h>

#include <numeric>
#include <vector>

#include "engine/comm/process_groups.h"
#include "engine/comm/world.h"
#include "engine/error.h"

using namespace diverge;

namespace {

Tensor f32_view(std::vector<float>& v) { return make_view(v.data(), DType::f32, Device::cpu, {std::ssize(v)}); }

// Every rank's world rank in the group's order: who the group holds, as its members see it.
std::vector<std::int32_t> members(Comm& group) {
  std::int32_t mine = world_comm().rank();
  std::vector<std::int32_t> all(static_cast<std::size_t>(group.size()));
  group.allgather(make_view(&mine, DType::i32, Device::cpu, {1}),
                  make_view(all.data(), DType::i32, Device::cpu, {group.size()}));
  return all;
}

std::vector<std::int32_t> range_of(int first, int count, int stride) {
  std::vector<std::int32_t> out;
  for (int i = 0; i < count; ++i) out.push_back(first + i * stride);
  return out;
}

}  // namespace

TEST_CASE("world comm: allreduce sums and maxima in f32, f64 and i32 over every rank") {
  Comm& world = world_comm();
  const int n = world.size(), r = world.rank();
  std::vector<float> f{1.0f * static_cast<float>(r), 0.5f, -static_cast<float>(r)};
  world.allreduce(f32_view(f), ReduceOp::sum);
  CHECK(f == std::vector<float>{static_cast<float>(n * (n - 1) / 2), 0.5f * static_cast<float>(n),
                                -static_cast<float>(n * (n - 1) / 2)});
  std::vector<double> d{static_cast<double>(r) + 0.25};
  world.allreduce(make_view(d.data(), DType::f64, Device::cpu, {1}), ReduceOp::max);
  CHECK(d[0] == static_cast<double>(n - 1) + 0.25);
  std::vector<std::int32_t> i{r + 1, 7};
  world.allreduce(make_view(i.data(), DType::i32, Device::cpu, {2}), ReduceOp::sum);
  CHECK(i == std::vector<std::int32_t>{n * (n + 1) / 2, 7 * n});
}

TEST_CASE("world comm: reduce_scatter, allgather and broadcast place every rank's slice") {
  Comm& world = world_comm();
  const int n = world.size(), r = world.rank();
  constexpr int kSlice = 3;
  std::vector<float> send(static_cast<std::size_t>(n * kSlice)), recv(kSlice);
  for (int i = 0; i < n * kSlice; ++i) send[static_cast<std::size_t>(i)] = static_cast<float>(100 * r + i);
  world.reduce_scatter(f32_view(send), f32_view(recv), ReduceOp::sum);
  for (int j = 0; j < kSlice; ++j)  // sum over ranks q of 100 q + (r * kSlice + j)
    CHECK(recv[static_cast<std::size_t>(j)] == static_cast<float>(100 * n * (n - 1) / 2 + n * (r * kSlice + j)));

  std::vector<float> mine{static_cast<float>(r), static_cast<float>(-r)}, all(static_cast<std::size_t>(2 * n));
  world.allgather(f32_view(mine), f32_view(all));
  for (int q = 0; q < n; ++q) {
    CHECK(all[static_cast<std::size_t>(2 * q)] == static_cast<float>(q));
    CHECK(all[static_cast<std::size_t>(2 * q + 1)] == static_cast<float>(-q));
  }
  std::vector<float> small(1);
  CHECK_THROWS_AS(world.allgather(f32_view(mine), f32_view(small)), Error);

  std::vector<float> root_values{static_cast<float>(r), 42.0f};
  world.broadcast(f32_view(root_values), n - 1);
  CHECK(root_values == std::vector<float>{static_cast<float>(n - 1), 42.0f});
  CHECK_THROWS_AS(world.broadcast(f32_view(root_values), n), Error);
  world.barrier();
}

TEST_CASE("world comm: all_to_all_v delivers every row to its rank in place, zero counts included") {
  Comm& world = world_comm();
  const int n = world.size(), r = world.rank();
  // Rank s sends (s + d) % 3 rows to rank d: zero rows between some pairs, rank 0 sends none to itself. Each row
  // is (sender, receiver, index among the rows of that pair).
  const auto rows_between = [](int s, int d) { return static_cast<std::int64_t>((s + d) % 3); };
  std::vector<std::int64_t> send_counts, recv_counts;
  std::vector<float> send, expected;
  for (int d = 0; d < n; ++d) {
    send_counts.push_back(rows_between(r, d));
    for (std::int64_t i = 0; i < rows_between(r, d); ++i)
      send.insert(send.end(), {static_cast<float>(r), static_cast<float>(d), static_cast<float>(i)});
  }
  for (int s = 0; s < n; ++s) {
    recv_counts.push_back(rows_between(s, r));
    for (std::int64_t i = 0; i < rows_between(s, r); ++i)
      expected.insert(expected.end(), {static_cast<float>(s), static_cast<float>(r), static_cast<float>(i)});
  }
  // One spare row on each side: counts need not fill the buffers.
  send.insert(send.end(), {-1.0f, -1.0f, -1.0f});
  std::vector<float> recv(expected.size() + 3, -7.0f);
  const Tensor send_rows = make_view(send.data(), DType::f32, Device::cpu, {std::ssize(send) / 3, 3});
  const Tensor recv_rows = make_view(recv.data(), DType::f32, Device::cpu, {std::ssize(recv) / 3, 3});
  world.all_to_all_v(send_rows, send_counts, recv_rows, recv_counts);
  CHECK(std::vector<float>(recv.begin(), recv.begin() + std::ssize(expected)) == expected);
  CHECK(std::vector<float>(recv.end() - 3, recv.end()) == std::vector<float>(3, -7.0f));

  std::vector<std::int64_t> too_many(static_cast<std::size_t>(n), send_rows.dim(0));
  CHECK_THROWS_AS(world.all_to_all_v(send_rows, too_many, recv_rows, recv_counts), Error);
  world.barrier();
}

TEST_CASE("world comm: split groups by color, ordered by key") {
  Comm& world = world_comm();
  const int n = world.size(), r = world.rank();
  // Two colors (even and odd ranks), keys reversing the world order.
  std::unique_ptr<Comm> parity = world.split(r % 2, -r);
  const int same_color = (n - r % 2 + 1) / 2;
  CHECK(parity->size() == same_color);
  std::vector<std::int32_t> expected = range_of(r % 2 + 2 * (same_color - 1), same_color, -2);
  CHECK(members(*parity) == expected);
  std::vector<float> one{1.0f};
  parity->allreduce(f32_view(one), ReduceOp::sum);
  CHECK(one[0] == static_cast<float>(same_color));
  world.barrier();
}

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
    CHECK(&groups.world() == &world);
    CHECK(members(groups.dp()) == range_of(0, n, 1));
    CHECK(members(groups.ep()) == range_of(r / ep * ep, ep, 1));
    CHECK(members(groups.edp()) == range_of(r % ep, n / ep, ep));
  }
}
