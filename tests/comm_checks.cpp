// The shared collective checks: each builds its rank's buffers on the host, places them on the device, runs the
// collective and reads the result back.
#include "tests/comm_checks.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "engine/arena.h"
#include "engine/device_memory.h"
#include "engine/error.h"

namespace diverge::test {
namespace {

template <class T>
constexpr DType dtype_of() {
  if constexpr (std::is_same_v<T, float>) return DType::f32;
  if constexpr (std::is_same_v<T, double>) return DType::f64;
  return DType::i32;
}

// A (rows, numel / rows) tensor in arena's memory holding values.
template <class T>
Tensor place(Arena& arena, const std::vector<T>& values, std::int64_t rows) {
  const auto n = std::ssize(values);
  const Tensor t = arena.alloc(dtype_of<T>(), {rows, n / rows});
  copy_tensor(make_view(const_cast<T*>(values.data()), dtype_of<T>(), Device::cpu, {rows, n / rows}), t);
  return t;
}

template <class T>
Tensor place(Arena& arena, const std::vector<T>& values) {
  return place(arena, values, 1);
}

template <class T>
std::vector<T> fetch(const Tensor& t) {
  std::vector<T> host(static_cast<std::size_t>(t.numel()));
  copy_tensor(t, make_view(host.data(), dtype_of<T>(), Device::cpu, {t.numel()}));
  return host;
}

Arena test_arena(Device device) { return Arena("comm checks", device, std::size_t{1} << 16); }

}  // namespace

std::vector<std::int32_t> members(Comm& group, int parent_rank, Device device) {
  Arena arena = test_arena(device);
  const Tensor mine = place(arena, std::vector<std::int32_t>{parent_rank});
  const Tensor all = place(arena, std::vector<std::int32_t>(static_cast<std::size_t>(group.size())));
  group.allgather(mine, all);
  return fetch<std::int32_t>(all);
}

void check_allreduce(Comm& group, Device device) {
  Arena arena = test_arena(device);
  const int n = group.size(), r = group.rank();
  const Tensor f = place(arena, std::vector<float>{1.0f * static_cast<float>(r), 0.5f, -static_cast<float>(r)});
  group.allreduce(f, ReduceOp::sum);
  CHECK(fetch<float>(f) == std::vector<float>{static_cast<float>(n * (n - 1) / 2), 0.5f * static_cast<float>(n),
                                              -static_cast<float>(n * (n - 1) / 2)});
  const Tensor d = place(arena, std::vector<double>{static_cast<double>(r) + 0.25});
  group.allreduce(d, ReduceOp::max);
  CHECK(fetch<double>(d)[0] == static_cast<double>(n - 1) + 0.25);
  const Tensor i = place(arena, std::vector<std::int32_t>{r + 1, 7});
  group.allreduce(i, ReduceOp::sum);
  CHECK(fetch<std::int32_t>(i) == std::vector<std::int32_t>{n * (n + 1) / 2, 7 * n});
}

void check_scatter_gather_broadcast(Comm& group, Device device) {
  Arena arena = test_arena(device);
  const int n = group.size(), r = group.rank();
  constexpr int kSlice = 3;
  std::vector<float> values(static_cast<std::size_t>(n * kSlice));
  for (int i = 0; i < n * kSlice; ++i) values[static_cast<std::size_t>(i)] = static_cast<float>(100 * r + i);
  const Tensor send = place(arena, values), recv = place(arena, std::vector<float>(kSlice));
  group.reduce_scatter(send, recv, ReduceOp::sum);
  const std::vector<float> scattered = fetch<float>(recv);
  for (int j = 0; j < kSlice; ++j)  // sum over ranks q of 100 q + (r * kSlice + j)
    CHECK(scattered[static_cast<std::size_t>(j)] ==
          static_cast<float>(100 * n * (n - 1) / 2 + n * (r * kSlice + j)));
  // In place (NCCL's form): this rank's own slice of send receives the sums of that slice.
  const Tensor whole = place(arena, values).reshape({n * kSlice});
  const Tensor own = whole.slice_rows(r * kSlice, (r + 1) * kSlice);
  group.reduce_scatter(whole, own, ReduceOp::sum);
  CHECK(fetch<float>(own) == scattered);

  const Tensor mine = place(arena, std::vector<float>{static_cast<float>(r), static_cast<float>(-r)});
  const Tensor all = place(arena, std::vector<float>(static_cast<std::size_t>(2 * n)));
  group.allgather(mine, all);
  const std::vector<float> gathered = fetch<float>(all);
  for (int q = 0; q < n; ++q) {
    CHECK(gathered[static_cast<std::size_t>(2 * q)] == static_cast<float>(q));
    CHECK(gathered[static_cast<std::size_t>(2 * q + 1)] == static_cast<float>(-q));
  }
  const Tensor small = place(arena, std::vector<float>(1));
  CHECK_THROWS_AS(group.allgather(mine, small), Error);

  const Tensor root_values = place(arena, std::vector<float>{static_cast<float>(r), 42.0f});
  group.broadcast(root_values, n - 1);
  CHECK(fetch<float>(root_values) == std::vector<float>{static_cast<float>(n - 1), 42.0f});
  CHECK_THROWS_AS(group.broadcast(root_values, n), Error);
  group.barrier();
}

void check_all_to_all_v(Comm& group, Device device) {
  Arena arena = test_arena(device);
  const int n = group.size(), r = group.rank();
  // Rank s sends (s + d) % 3 rows to rank d: zero rows between some pairs, rank 0 sends none to itself. Each row
  // is (sender, receiver, index among the rows of that pair).
  const auto rows_between = [](int s, int d) { return static_cast<std::int64_t>((s + d) % 3); };
  std::vector<std::int64_t> send_counts, recv_counts;
  std::vector<float> sent, expected;
  for (int d = 0; d < n; ++d) {
    send_counts.push_back(rows_between(r, d));
    for (std::int64_t i = 0; i < rows_between(r, d); ++i)
      sent.insert(sent.end(), {static_cast<float>(r), static_cast<float>(d), static_cast<float>(i)});
  }
  for (int s = 0; s < n; ++s) {
    recv_counts.push_back(rows_between(s, r));
    for (std::int64_t i = 0; i < rows_between(s, r); ++i)
      expected.insert(expected.end(), {static_cast<float>(s), static_cast<float>(r), static_cast<float>(i)});
  }
  // One spare row on each side: counts need not fill the buffers.
  sent.insert(sent.end(), {-1.0f, -1.0f, -1.0f});
  const Tensor send_rows = place(arena, sent, std::ssize(sent) / 3);
  const Tensor recv_rows = place(arena, std::vector<float>(expected.size() + 3, -7.0f), std::ssize(expected) / 3 + 1);
  group.all_to_all_v(send_rows, send_counts, recv_rows, recv_counts);
  const std::vector<float> received = fetch<float>(recv_rows);
  CHECK(std::vector<float>(received.begin(), received.begin() + std::ssize(expected)) == expected);
  CHECK(std::vector<float>(received.end() - 3, received.end()) == std::vector<float>(3, -7.0f));

  std::vector<std::int64_t> too_many(static_cast<std::size_t>(n), send_rows.dim(0));
  CHECK_THROWS_AS(group.all_to_all_v(send_rows, too_many, recv_rows, recv_counts), Error);
  group.barrier();
}

void check_split(Comm& group, Device device) {
  const int n = group.size(), r = group.rank();
  // Two colors (even and odd ranks), keys reversing the group's order.
  const std::unique_ptr<Comm> parity = group.split(r % 2, -r);
  const int same_color = (n - r % 2 + 1) / 2;
  CHECK(parity->size() == same_color);
  std::vector<std::int32_t> expected;
  for (int i = 0; i < same_color; ++i) expected.push_back(r % 2 + 2 * (same_color - 1) - 2 * i);
  CHECK(members(*parity, r, device) == expected);
  Arena arena = test_arena(device);
  const Tensor one = place(arena, std::vector<float>{1.0f});
  parity->allreduce(one, ReduceOp::sum);
  CHECK(fetch<float>(one)[0] == static_cast<float>(same_color));
  group.barrier();
}

}  // namespace diverge::test
