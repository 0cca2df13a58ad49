// Tensor: a non-owning, typed, shaped view of memory on one device (memory itself is owned by arenas).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>

namespace diverge {

// f64 holds sums that outlive many micro-batches (the routing-metric windows), never a model tensor.
enum class DType : std::uint8_t { f32, bf16, i32, f64 };
enum class Device : std::uint8_t { cpu, cuda };

std::size_t dtype_bytes(DType dtype);
const char* dtype_name(DType dtype);
const char* device_name(Device device);

// Row-major, contiguous. Ops read the device from their tensors and dispatch to that backend, so model code never
// names a backend. Up to 4 dimensions: (B, T, H, D) is the largest the model needs.
struct Tensor {
  static constexpr int kMaxDims = 4;
  void* data = nullptr;
  DType dtype = DType::f32;
  Device device = Device::cpu;
  int ndim = 0;
  std::array<std::int64_t, kMaxDims> shape{};

  std::int64_t numel() const;
  std::size_t bytes() const { return static_cast<std::size_t>(numel()) * dtype_bytes(dtype); }
  std::int64_t dim(int i) const { return shape[static_cast<std::size_t>(i < 0 ? ndim + i : i)]; }
  bool empty() const { return data == nullptr; }

  // Typed host pointers; throw Error if the dtype or device does not match (a bug, caught early).
  float* f32() const;
  std::int32_t* i32() const;
  double* f64() const;

  // The same memory seen with another shape of equal element count.
  Tensor reshape(std::initializer_list<std::int64_t> new_shape) const;
  // Rows [begin, end) of the first dimension.
  Tensor slice_rows(std::int64_t begin, std::int64_t end) const;

  std::string describe() const;  // "f32 cpu (8, 256, 512)", for error messages
};

// A view over memory someone else owns (tests, loader buffers): no arena involved.
Tensor make_view(void* data, DType dtype, Device device, std::initializer_list<std::int64_t> shape);

}  // namespace diverge
