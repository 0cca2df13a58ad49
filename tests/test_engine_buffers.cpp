// Tests for Buffers and planned arenas: a dry run's bytes are exactly what the same allocations take from an arena.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>

#include "engine/arena.h"
#include "engine/buffers.h"
#include "engine/error.h"

using namespace diverge;

namespace {

// Odd sizes in every dtype, so that every start but the first needs padding.
struct Mixed {
  Tensor a;  // (3) f32
  Tensor b;  // (5, 7) i32, zeroed
  Tensor c;  // (1) bf16
  Tensor d;  // (2, 3) activation dtype
};

Mixed allocate_mixed(Buffers& buffers) {
  return {buffers.f32({3}), buffers.take_zeroed(DType::i32, {5, 7}), buffers.take(DType::bf16, {1}),
          buffers.act({2, 3})};
}

}  // namespace

TEST_CASE("a dry run counts the arena's bytes with its alignment and hands out shaped tensors without memory") {
  Buffers plan(Device::cpu);
  const Mixed m = allocate_mixed(plan);
  CHECK(plan.bytes() == 3 * 256 + 2 * 3 * 4);
  CHECK(m.a.data == nullptr);
  CHECK(m.b.describe() == "i32 cpu (5, 7)");
  CHECK(m.c.dtype == DType::bf16);
  CHECK(m.d.describe() == "f32 cpu (2, 3)");
  CHECK(planned_bytes(Device::cpu, allocate_mixed) == plan.bytes());
  CHECK(planned_bytes(Device::cpu, [](Buffers&) {}) == 0);
}

TEST_CASE("an arena of the planned bytes holds exactly the planned allocations, and not one tensor more") {
  const std::size_t planned = planned_bytes(Device::cpu, allocate_mixed);
  Arena arena("planned", Device::cpu, planned);
  Buffers buffers(arena);
  const Mixed m = allocate_mixed(buffers);
  CHECK(arena.used() == planned);
  CHECK(buffers.bytes() == planned);
  CHECK(m.a.data == arena.base());
  CHECK_THROWS_WITH_AS(buffers.i32({1}), doctest::Contains("arena 'planned': cannot allocate 4 B"), Error);
  CHECK(arena.used() == planned);
}

TEST_CASE("take_zeroed clears what the arena held before, take leaves it") {
  const std::size_t planned = planned_bytes(Device::cpu, allocate_mixed);
  Arena arena("reused", Device::cpu, planned);
  const Tensor dirty = arena.alloc(DType::i32, {static_cast<std::int64_t>(planned / 4)});
  std::memset(dirty.data, 0xff, dirty.bytes());
  arena.reset();
  Buffers buffers(arena);
  const Mixed m = allocate_mixed(buffers);
  for (std::int64_t i = 0; i < m.b.numel(); ++i) CHECK(m.b.i32()[i] == 0);
  std::uint32_t a_bits = 0;
  std::memcpy(&a_bits, m.a.data, sizeof a_bits);
  CHECK(a_bits == 0xffffffffu);
}

TEST_CASE("reallocate keeps an arena the plan fits and replaces one it outgrows, keeping the name") {
  Arena arena("rows", Device::cpu, 0);
  const auto rows = [](std::int64_t n) { return [n](Buffers& b) { return b.i32({n}); }; };
  const Tensor ten = reallocate(arena, Device::cpu, rows(10));
  CHECK(arena.capacity() == 40);
  CHECK(ten.data == arena.base());
  const Tensor five = reallocate(arena, Device::cpu, rows(5));
  CHECK(five.data == ten.data);
  CHECK(arena.capacity() == 40);
  CHECK(arena.used() == 20);
  reallocate(arena, Device::cpu, rows(100));
  CHECK(arena.capacity() == 400);
  CHECK(arena.name() == "rows");
}

TEST_CASE("host takes count beside a device arena's bytes, and come from the arena itself on the host") {
  const auto allocate = [](Buffers& b) {
    b.f32({10});
    return b.host(DType::i32, {5});
  };
  Buffers device_plan(Device::cuda);
  const Tensor planned = allocate(device_plan);
  CHECK(planned.device == Device::cpu);
  CHECK(device_plan.bytes() == 40);
  CHECK(device_plan.host_bytes() == 20);

  Buffers host_plan(Device::cpu);
  allocate(host_plan);
  CHECK(host_plan.bytes() == Arena::next_offset(40) + 20);
  CHECK(host_plan.host_bytes() == 0);
  Arena arena("mixed", Device::cpu, host_plan.bytes());
  Buffers buffers(arena);
  const Tensor counts = allocate(buffers);
  CHECK(counts.device == Device::cpu);
  CHECK(arena.used() == arena.capacity());
}
