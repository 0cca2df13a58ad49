// Tests for Tensor views and the Arena allocator: alignment, opt-in zeroing, reset, peak, overflow and device errors.
#include <doctest/doctest.h>

#include <cstdint>
#include <string>

#include "engine/arena.h"
#include "engine/error.h"
#include "engine/tensor.h"
#include "kernels/cuda/device_info.h"

using namespace diverge;

namespace {

std::string error_of(auto&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("arena allocations are 256-byte aligned; alloc_zeroed zero-initialises") {
  Arena arena("scratch", Device::cpu, 1 << 16);
  Tensor a = arena.alloc(DType::f32, {3});
  a.f32()[0] = 7.0f;
  Tensor b = arena.alloc_zeroed(DType::i32, {5, 7});
  Tensor c = arena.alloc(DType::bf16, {1});
  for (const Tensor* t : {&a, &b, &c}) CHECK(reinterpret_cast<std::uintptr_t>(t->data) % Arena::kAlignment == 0);
  CHECK(static_cast<char*>(b.data) - static_cast<char*>(a.data) == 256);
  for (std::int64_t i = 0; i < b.numel(); ++i) CHECK(b.i32()[i] == 0);
  CHECK(arena.used() == 2 * 256 + 2);
}

TEST_CASE("arena reset reuses memory and keeps the peak; only alloc_zeroed clears what the last step left") {
  Arena arena("activations", Device::cpu, 4096);
  Tensor a = arena.alloc(DType::f32, {100});
  a.f32()[5] = 3.0f;
  arena.alloc(DType::f32, {200});
  const std::size_t peak = arena.peak();
  CHECK(peak == 256 * 2 + 800);
  arena.reset();
  CHECK(arena.used() == 0);
  Tensor again = arena.alloc(DType::f32, {10});
  CHECK(again.data == a.data);
  CHECK(again.f32()[5] == 3.0f);
  arena.reset();
  Tensor zeroed = arena.alloc_zeroed(DType::f32, {10});
  CHECK(zeroed.data == a.data);
  CHECK(zeroed.f32()[5] == 0.0f);
  CHECK(arena.peak() == peak);
}

TEST_CASE("arena overflow names the arena, the request and the hint") {
  Arena arena("activations", Device::cpu, 1024, "lower train.micro_batch_size");
  arena.alloc(DType::f32, {200});
  const std::string message = error_of([&] { arena.alloc(DType::f32, {8, 32}); });
  CHECK(contains(message, "arena 'activations'"));
  CHECK(contains(message, "(8, 32)"));
  CHECK(contains(message, "lower train.micro_batch_size"));
  CHECK(arena.used() == 800);
}

TEST_CASE("a CUDA arena works with a device, and is a clear error without a backend or a device") {
#ifdef DIVERGE_WITH_CUDA
  if (cuda::device_count() > 0) {
    Arena arena("params", Device::cuda, 1024);
    const Tensor t = arena.alloc(DType::f32, {16});
    CHECK(t.device == Device::cuda);
    CHECK(arena.used() == 64);
  } else {
    CHECK(contains(error_of([] { Arena("params", Device::cuda, 1024); }), "arena 'params': cannot allocate"));
  }
#else
  CHECK(contains(error_of([] { Arena("params", Device::cuda, 1024); }), "CUDA arenas need the CUDA backend"));
#endif
}

TEST_CASE("arena moves hand over the block") {
  Arena a("params", Device::cpu, 1024);
  Tensor t = a.alloc(DType::f32, {4});
  Arena b = std::move(a);
  CHECK(b.base() == t.data);
  CHECK(b.used() == 16);
  CHECK(a.base() == nullptr);
}

TEST_CASE("tensor views: reshape, slice, typed access and descriptions") {
  float data[24] = {};
  Tensor t = make_view(data, DType::f32, Device::cpu, {2, 3, 4});
  CHECK(t.numel() == 24);
  CHECK(t.bytes() == 96);
  CHECK(t.dim(-1) == 4);
  CHECK(t.describe() == "f32 cpu (2, 3, 4)");
  CHECK(t.reshape({6, 4}).describe() == "f32 cpu (6, 4)");
  CHECK(t.slice_rows(1, 2).f32() == data + 12);
  CHECK(contains(error_of([&] { t.reshape({5, 5}); }), "element counts differ"));
  CHECK(contains(error_of([&] { t.slice_rows(1, 3); }), "out of range"));
  CHECK(contains(error_of([&] { t.i32(); }), "wanted i32"));
  CHECK(contains(error_of([&] { make_view(data, DType::f32, Device::cpu, {1, 1, 1, 1, 1}); }), "more than 4"));
}
