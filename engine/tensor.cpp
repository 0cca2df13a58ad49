// Tensor views: element sizes, names, typed access, reshape/slice and descriptions for error messages.
#include "engine/tensor.h"

#include <string>

#include "engine/error.h"

namespace diverge {

std::size_t dtype_bytes(DType dtype) {
  switch (dtype) {
    case DType::f32: return 4;
    case DType::bf16: return 2;
    case DType::i32: return 4;
    case DType::f64: return 8;
  }
  throw Error("tensor", "unknown dtype");
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::f32: return "f32";
    case DType::bf16: return "bf16";
    case DType::i32: return "i32";
    case DType::f64: return "f64";
  }
  return "?";
}

const char* device_name(Device device) {
  switch (device) {
    case Device::cpu: return "cpu";
    case Device::cuda: return "cuda";
  }
  return "?";
}

std::int64_t Tensor::numel() const {
  std::int64_t n = 1;
  for (int i = 0; i < ndim; ++i) n *= shape[static_cast<std::size_t>(i)];
  return n;
}

namespace {

void check_host_access(const Tensor& t, DType wanted) {
  check(t.dtype == wanted, "tensor",
        "wanted " + std::string(dtype_name(wanted)) + " data but the tensor is " + t.describe());
  check(t.device == Device::cpu, "tensor", "host access to a tensor on the device: " + t.describe());
}

std::string shape_text(std::initializer_list<std::int64_t> shape) {
  std::string text = "(";
  for (auto it = shape.begin(); it != shape.end(); ++it)
    text += (it == shape.begin() ? "" : ", ") + std::to_string(*it);
  return text + ")";
}

void set_shape(Tensor& t, std::initializer_list<std::int64_t> shape) {
  check(shape.size() <= Tensor::kMaxDims, "tensor",
        "shape " + shape_text(shape) + " has more than " + std::to_string(Tensor::kMaxDims) + " dimensions");
  t.ndim = static_cast<int>(shape.size());
  t.shape = {};
  std::size_t i = 0;
  for (std::int64_t extent : shape) {
    check(extent >= 0, "tensor", "shape " + shape_text(shape) + " has a negative extent");
    t.shape[i++] = extent;
  }
}

}  // namespace

float* Tensor::f32() const {
  check_host_access(*this, DType::f32);
  return static_cast<float*>(data);
}

std::int32_t* Tensor::i32() const {
  check_host_access(*this, DType::i32);
  return static_cast<std::int32_t*>(data);
}

double* Tensor::f64() const {
  check_host_access(*this, DType::f64);
  return static_cast<double*>(data);
}

Tensor Tensor::reshape(std::initializer_list<std::int64_t> new_shape) const {
  Tensor view = *this;
  set_shape(view, new_shape);
  check(view.numel() == numel(), "tensor",
        "cannot reshape " + describe() + " to " + shape_text(new_shape) + ": element counts differ");
  return view;
}

Tensor Tensor::slice_rows(std::int64_t begin, std::int64_t end) const {
  check(ndim >= 1, "tensor", "cannot slice rows of a scalar tensor");
  check(0 <= begin && begin <= end && end <= shape[0], "tensor",
        "rows [" + std::to_string(begin) + ", " + std::to_string(end) + ") out of range for " + describe());
  Tensor view = *this;
  const std::int64_t row_elements = shape[0] == 0 ? 0 : numel() / shape[0];
  view.data = static_cast<char*>(data) + static_cast<std::size_t>(begin * row_elements) * dtype_bytes(dtype);
  view.shape[0] = end - begin;
  return view;
}

std::string Tensor::describe() const {
  std::string text = std::string(dtype_name(dtype)) + " " + device_name(device) + " (";
  for (int i = 0; i < ndim; ++i) text += (i ? ", " : "") + std::to_string(shape[static_cast<std::size_t>(i)]);
  return text + ")";
}

Tensor make_view(void* data, DType dtype, Device device, std::initializer_list<std::int64_t> shape) {
  Tensor t;
  t.data = data;
  t.dtype = dtype;
  t.device = device;
  set_shape(t, shape);
  return t;
}

}  // namespace diverge
