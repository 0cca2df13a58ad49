// The kernel lab: each CUDA kernel of a training step on the shapes of benchmarks/kernel_lab_shapes.json, checked
// against the CPU reference on a reduced shape of its family, then timed with CUDA events (TFLOP/s or GB/s).
//
//   kernel_lab [--shapes full|tiny] [--reps N] [--json FILE]
//
// Every kernel runs through its op (kernels/ops.h), as the model calls it. The "cublas dense" rows time the expert
// FFN's products as plain cuBLAS GEMMs over all rows at the same FLOPs: the rate the grouped kernels aim for.
// benchmarks/kernel_lab_torch.py times PyTorch's kernels on the same shapes; kernel_lab_table.py joins the two.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <functional>
#include <memory>
#include <numeric>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/arena.h"
#include "engine/device_memory.h"
#include "engine/error.h"
#include "engine/training/device_peaks.h"
#include "kernels/cuda/device_info.h"
#include "kernels/cuda/stamps.h"
#include "kernels/ops.h"

using namespace diverge;
using json = nlohmann::json;

namespace {

// ---- tensors on either device ------------------------------------------------------------------------------------

float round_to_bf16(float x) {
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(x);
  return std::bit_cast<float>((bits + 0x7FFFu + ((bits >> 16) & 1u)) & 0xFFFF0000u);
}

std::size_t elements(std::initializer_list<std::int64_t> shape) {
  std::int64_t n = 1;
  for (std::int64_t d : shape) n *= d;
  return static_cast<std::size_t>(n);
}

// n draws of Normal(0, scale), rounded to bf16 so that the CPU and the GPU see the same inputs.
std::vector<float> normal_values(std::size_t n, std::uint32_t seed, float scale) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> values(n);
  for (float& v : values) v = round_to_bf16(normal(rng));
  return values;
}

// Every tensor of a case in its own exactly sized arena: the lab allocates once per case, never inside a timing.
class Tensors {
 public:
  explicit Tensors(Device device) : device_(device) {}

  Device device() const { return device_; }

  Tensor make(DType dtype, std::initializer_list<std::int64_t> shape) {
    arenas_.push_back(
        std::make_unique<Arena>("kernel lab", device_, elements(shape) * dtype_bytes(dtype) + Arena::kAlignment));
    return arenas_.back()->alloc_zeroed(dtype, shape);
  }

  // The device's activation dtype (bf16 on CUDA) holding values, through an f32 copy and the op that casts.
  Tensor activation(const std::vector<float>& values, std::initializer_list<std::int64_t> shape) {
    const Tensor f32 = floats(values, shape);
    if (device_ == Device::cpu) return f32;
    const Tensor out = make(ops::activation_dtype(device_), shape);
    ops::cast_to_activation(f32, out);
    return out;
  }

  // Normal(0, scale) draws from a fixed seed (rounded to bf16), in the activation dtype or in f32.
  Tensor normal_activation(std::initializer_list<std::int64_t> shape, std::uint32_t seed, float scale) {
    return activation(normal_values(elements(shape), seed, scale), shape);
  }
  Tensor normal_floats(std::initializer_list<std::int64_t> shape, std::uint32_t seed, float scale) {
    return floats(normal_values(elements(shape), seed, scale), shape);
  }

  Tensor floats(const std::vector<float>& values, std::initializer_list<std::int64_t> shape) {
    const Tensor out = make(DType::f32, shape);
    copy_tensor(make_view(const_cast<float*>(values.data()), DType::f32, Device::cpu, shape), out);
    return out;
  }

  Tensor ints(const std::vector<std::int32_t>& values, std::initializer_list<std::int64_t> shape) {
    const Tensor out = make(DType::i32, shape);
    copy_tensor(make_view(const_cast<std::int32_t*>(values.data()), DType::i32, Device::cpu, shape), out);
    return out;
  }

 private:
  Device device_;
  std::vector<std::unique_ptr<Arena>> arenas_;
};

std::vector<float> to_host(const Tensor& t) {
  std::vector<float> out(static_cast<std::size_t>(t.numel()));
  if (t.dtype == DType::f32) {
    copy_tensor(t, make_view(out.data(), DType::f32, Device::cpu, {t.numel()}));
    return out;
  }
  std::vector<std::uint16_t> bits(out.size());
  copy_tensor(t, make_view(bits.data(), DType::bf16, Device::cpu, {t.numel()}));
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = std::bit_cast<float>(std::uint32_t{bits[i]} << 16);
  return out;
}

// max |got - want| / max |want|: one number per output, for a reduced shape of each family.
double relative_error(const std::vector<float>& got, const std::vector<float>& want) {
  double diff = 0.0, scale = 0.0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    diff = std::max(diff, std::fabs(static_cast<double>(got[i]) - want[i]));
    scale = std::max(scale, std::fabs(static_cast<double>(want[i])));
  }
  return scale > 0.0 ? diff / scale : diff;
}

// ---- timing and rows ----------------------------------------------------------------------------------------------

struct Row {
  std::string kernel;
  std::string shape;
  std::string impl;
  double seconds = 0.0;
  double work = 0.0;  // FLOPs or bytes
  std::string unit;   // "TFLOP/s" or "GB/s"
  std::optional<double> error;

  double rate() const { return seconds > 0.0 ? work / seconds / 1e12 * (unit == "GB/s" ? 1e3 : 1.0) : 0.0; }
};

// The median over reps of the seconds between CUDA events around op, after two untimed runs.
double median_seconds(const std::function<void()>& op, int reps) {
  op();
  op();
  std::vector<double> seconds;
  for (int i = 0; i < reps; ++i) {
    cuda::reset_stamps();
    const std::size_t start = cuda::stamp();
    op();
    seconds.push_back(cuda::seconds_between_stamps(start, cuda::stamp()));
  }
  std::sort(seconds.begin(), seconds.end());
  return seconds[seconds.size() / 2];
}

// The largest relative error this lab accepts from a reduced shape: a few bf16 roundings (2^-8 each) on the way,
// with room for the accumulation order. The tests (ctest -L cuda) hold each kernel to its own tighter bound; this
// catches a kernel that is wrong at the lab's shapes, not one that is slightly off.
constexpr double kLabTolerance = 3e-2;

struct Lab {
  int reps = 20;
  std::optional<double> peak_tflops = peak_bf16_tflops(cuda::device_name());
  std::optional<double> peak_gbps = peak_memory_gbps(cuda::device_name());
  std::vector<Row> rows;
  bool failed = false;

  // The row's rate as a share of the device's peak for its unit, when the device is in the table.
  std::optional<double> peak_share(const Row& row) const {
    const std::optional<double> peak = row.unit == "GB/s" ? peak_gbps : peak_tflops;
    return peak ? std::optional<double>(row.rate() / *peak) : std::nullopt;
  }

  void add(Row row) {
    if (row.error && !(*row.error <= kLabTolerance)) failed = true;
    const std::optional<double> share = peak_share(row);
    std::printf("%-22s %-26s %-13s %9.3f ms %8.1f %-7s %6s%s\n", row.kernel.c_str(), row.shape.c_str(),
                row.impl.c_str(), row.seconds * 1e3, row.rate(), row.unit.c_str(),
                share ? (std::to_string(static_cast<int>(std::lround(100.0 * *share))) + "%").c_str() : "-",
                row.error ? (" check " + std::to_string(*row.error) + (*row.error <= kLabTolerance ? "" : " FAILED"))
                                .c_str()
                          : "");
    std::fflush(stdout);
    rows.push_back(std::move(row));
  }
};

std::int64_t get(const json& shape, const char* key) { return shape.at(key).get<std::int64_t>(); }

// ---- attention ----------------------------------------------------------------------------------------------------

struct AttentionShape {
  std::int64_t batch, seq, heads, kv_heads, head_dim;

  std::string key() const {
    return "B" + std::to_string(batch) + " T" + std::to_string(seq) + " H" + std::to_string(heads) + "/" +
           std::to_string(kv_heads) + " D" + std::to_string(head_dim);
  }
  double forward_flops() const {  // causal: half of 4 B H T^2 D
    return 2.0 * static_cast<double>(batch * heads * head_dim) * static_cast<double>(seq) * static_cast<double>(seq);
  }
};

// One attention problem on one device: inputs from fixed seeds, forward and backward outputs.
struct AttentionRun {
  Tensors t;
  Tensor q, k, v, out, lse, dout, dq, dk, dv;

  AttentionRun(Device device, const AttentionShape& s) : t(device) {
    const std::int64_t B = s.batch, T = s.seq, H = s.heads, Hkv = s.kv_heads, D = s.head_dim;
    q = t.normal_activation({B, T, H, D}, 1, 1.0f);
    k = t.normal_activation({B, T, Hkv, D}, 2, 1.0f);
    v = t.normal_activation({B, T, Hkv, D}, 3, 1.0f);
    dout = t.normal_activation({B, T, H, D}, 4, 1.0f);
    const DType act = ops::activation_dtype(device);
    out = t.make(act, {B, T, H, D});
    lse = t.make(DType::f32, {B, H, T});
    dq = t.make(act, {B, T, H, D});
    dk = t.make(act, {B, T, Hkv, D});
    dv = t.make(act, {B, T, Hkv, D});
  }
  void forward() { ops::attention(q, k, v, out, lse); }
  void backward() { ops::attention_backward(q, k, v, out, lse, dout, dq, dk, dv); }
};

void lab_attention(Lab& lab, const AttentionShape& s) {
  const AttentionShape reduced{1, std::min<std::int64_t>(s.seq, 192), s.heads, s.kv_heads, s.head_dim};
  AttentionRun cpu(Device::cpu, reduced), gpu(Device::cuda, reduced);
  for (AttentionRun* run : {&cpu, &gpu}) {
    run->forward();
    run->backward();
  }
  const double forward_error = relative_error(to_host(gpu.out), to_host(cpu.out));
  double backward_error = 0.0;
  for (auto [g, c] : {std::pair{&gpu.dq, &cpu.dq}, std::pair{&gpu.dk, &cpu.dk}, std::pair{&gpu.dv, &cpu.dv}})
    backward_error = std::max(backward_error, relative_error(to_host(*g), to_host(*c)));

  AttentionRun timed(Device::cuda, s);
  lab.add({"attention_forward", s.key(), "diverge", median_seconds([&] { timed.forward(); }, lab.reps),
           s.forward_flops(), "TFLOP/s", forward_error});
  lab.add({"attention_backward", s.key(), "diverge", median_seconds([&] { timed.backward(); }, lab.reps),
           2.5 * s.forward_flops(), "TFLOP/s", backward_error});
}

// ---- expert FFN ---------------------------------------------------------------------------------------------------

struct ExpertShape {
  std::int64_t tokens, dim, experts, top_k, hidden;

  std::int64_t rows() const { return tokens * top_k; }
  std::string key() const {
    return "T" + std::to_string(tokens) + " C" + std::to_string(dim) + " E" + std::to_string(experts) + " k" +
           std::to_string(top_k) + " F" + std::to_string(hidden);
  }
  double forward_flops() const { return 6.0 * static_cast<double>(rows() * dim) * static_cast<double>(hidden); }
};

// Rows split as evenly as the experts allow (expert e takes rows / E, plus one while e < rows % E), the rule the
// PyTorch side uses too, so both time the same grouped problem.
std::vector<std::int32_t> even_offsets(std::int64_t rows, std::int64_t experts) {
  std::vector<std::int32_t> offsets{0};
  for (std::int64_t e = 0; e < experts; ++e)
    offsets.push_back(offsets.back() + static_cast<std::int32_t>(rows / experts + (e < rows % experts ? 1 : 0)));
  return offsets;
}

// Grouped row r holds copy (r * stride) mod R, stride coprime to R: every expert's rows come from tokens all over
// the batch, as a router's choices scatter them.
std::vector<std::int32_t> scattered_copies(std::int64_t rows) {
  std::int64_t stride = rows / 3 + 1;
  while (std::gcd(stride, rows) != 1) ++stride;
  std::vector<std::int32_t> copy_of_row;
  for (std::int64_t r = 0; r < rows; ++r) copy_of_row.push_back(static_cast<std::int32_t>(r * stride % rows));
  return copy_of_row;
}

// The expert FFN on one device, its R rows in a grouped tensor, or (gathered) read from the N tokens through a plan
// as the model runs it.
struct ExpertRun {
  Tensors t;
  ops::ExpertInput x{Tensor{}};
  Tensor offsets, dout, out, dx, gate_work, up_work;
  ops::ExpertWeights w, dw;
  ops::ExpertActivations saved;

  ExpertRun(Device device, const ExpertShape& s, bool gathered) : t(device) {
    const std::int64_t R = s.rows(), C = s.dim, E = s.experts, F = s.hidden;
    const float weight_scale = 1.0f / std::sqrt(static_cast<float>(C));
    if (gathered) {
      x.x = t.normal_activation({s.tokens, C}, 11, 1.0f);
      x.copy_of_row = t.ints(scattered_copies(R), {R});
      x.top_k = s.top_k;
    } else {
      x.x = t.normal_activation({R, C}, 11, 1.0f);
    }
    dout = t.normal_activation({R, C}, 12, 1.0f);
    w = {t.normal_activation({E, F, C}, 13, weight_scale),
         t.normal_activation({E, F, C}, 14, weight_scale),
         t.normal_activation({E, C, F}, 15, weight_scale)};
    offsets = t.ints(even_offsets(R, E), {E + 1});
    const DType act = ops::activation_dtype(device);
    out = t.make(act, {R, C});
    dx = t.make(act, {R, C});
    saved = {t.make(act, {R, F}), t.make(act, {R, F}), t.make(act, {R, F})};
    gate_work = t.make(act, {R, F});
    up_work = t.make(act, {R, F});
    dw = {t.make(DType::f32, {E, F, C}), t.make(DType::f32, {E, F, C}), t.make(DType::f32, {E, C, F})};
  }
  void forward() { ops::expert_ffn(x, offsets, w, saved, out); }
  void backward() { ops::expert_ffn_backward(dout, x, offsets, w, saved, dx, dw, gate_work, up_work); }
};

// The expert FFN's forward products as two plain GEMMs over all rows, at its FLOPs: x (R, C) times a (2F, C)
// weight, then (R, F) times a (C, F) weight.
struct DenseEquivalent {
  Tensors t{Device::cuda};
  Tensor x, w_in, gate_up, hidden, w_out, out;

  explicit DenseEquivalent(const ExpertShape& s) {
    const std::int64_t R = s.rows(), C = s.dim, F = s.hidden;
    x = t.normal_activation({R, C}, 21, 1.0f);
    w_in = t.normal_activation({2 * F, C}, 22, 0.02f);
    w_out = t.normal_activation({C, F}, 23, 0.02f);
    gate_up = t.make(DType::bf16, {R, 2 * F});
    hidden = t.normal_activation({R, F}, 24, 1.0f);
    out = t.make(DType::bf16, {R, C});
  }
  void forward() {
    ops::matmul(x, w_in, gate_up, false, true);
    ops::matmul(hidden, w_out, out, false, true);
  }
};

void lab_experts(Lab& lab, const ExpertShape& s) {
  // Fewer experts keep the CPU reference's weights small; one of them receives no rows.
  const ExpertShape reduced{std::min<std::int64_t>(s.tokens, 256), s.dim, std::min<std::int64_t>(s.experts, 8),
                            s.top_k, s.hidden};
  ExpertRun cpu(Device::cpu, reduced, true), gpu(Device::cuda, reduced, true);
  for (ExpertRun* run : {&cpu, &gpu}) {
    run->forward();
    run->backward();
  }
  const double forward_error = relative_error(to_host(gpu.out), to_host(cpu.out));
  double backward_error = relative_error(to_host(gpu.dx), to_host(cpu.dx));
  for (auto [g, c] : {std::pair{&gpu.dw.gate, &cpu.dw.gate}, std::pair{&gpu.dw.up, &cpu.dw.up},
                      std::pair{&gpu.dw.down, &cpu.dw.down}})
    backward_error = std::max(backward_error, relative_error(to_host(*g), to_host(*c)));

  // "diverge" times the grouped problem that torch._grouped_mm is given; "diverge gathered" the same products
  // reading the tokens through the plan, as the model runs them (no dispatch before them).
  for (const bool gathered : {false, true}) {
    ExpertRun timed(Device::cuda, s, gathered);
    const char* impl = gathered ? "diverge gathered" : "diverge";
    lab.add({"expert_forward", s.key(), impl, median_seconds([&] { timed.forward(); }, lab.reps), s.forward_flops(),
             "TFLOP/s", forward_error});
    lab.add({"expert_backward", s.key(), impl, median_seconds([&] { timed.backward(); }, lab.reps),
             2.0 * s.forward_flops(), "TFLOP/s", backward_error});
  }
  DenseEquivalent dense(s);
  lab.add({"expert_forward", s.key(), "cublas dense", median_seconds([&] { dense.forward(); }, lab.reps),
           s.forward_flops(), "TFLOP/s", std::nullopt});
}

// ---- row-wise kernels: norms, RoPE, router, dispatch, loss -------------------------------------------------------

struct RowShape {
  std::int64_t tokens, dim, heads, head_dim, experts, top_k, vocab;
};

// A row kernel's problem on one device: make() builds its tensors, run() is the op, outputs are compared.
struct RowCase {
  const char* kernel;
  std::function<std::string(const RowShape&)> key;  // the extents the kernel depends on
  std::function<double(const RowShape&)> bytes;
  std::function<std::function<void()>(Tensors&, const RowShape&, std::vector<Tensor>& outputs)> make;
};

double bf16_bytes(std::int64_t n) { return 2.0 * static_cast<double>(n); }

// The EDL row's sequences: of 2,048 tokens each (the configs' seq_len), at least two so that two domains are present.
std::int64_t edl_sequences(std::int64_t tokens) { return std::max<std::int64_t>(2, tokens / 2048); }

std::vector<RowCase> row_cases() {
  return {
      {"rmsnorm_forward",
       [](const RowShape& s) { return "T" + std::to_string(s.tokens) + " C" + std::to_string(s.dim); },
       [](const RowShape& s) { return 2.0 * bf16_bytes(s.tokens * s.dim) + bf16_bytes(s.dim); },
       [](Tensors& t, const RowShape& s, std::vector<Tensor>& outputs) {
         const Tensor x = t.normal_activation({s.tokens, s.dim}, 31, 1.0f);
         const Tensor weight = t.normal_activation({s.dim}, 32, 1.0f);
         const Tensor out = t.make(x.dtype, {s.tokens, s.dim}), rstd = t.make(DType::f32, {s.tokens});
         outputs = {out, rstd};
         return std::function<void()>([=] { ops::rmsnorm(x, weight, out, rstd, 1e-6f); });
       }},
      {"rope_forward",
       [](const RowShape& s) {
         return "T" + std::to_string(s.tokens) + " H" + std::to_string(s.heads) + "x" + std::to_string(s.head_dim);
       },
       [](const RowShape& s) { return 2.0 * bf16_bytes(s.tokens * s.heads * s.head_dim); },
       [](Tensors& t, const RowShape& s, std::vector<Tensor>& outputs) {
         const Tensor x = t.normal_activation({1, s.tokens, s.heads, s.head_dim}, 33, 1.0f);
         const Tensor out = t.make(x.dtype, {1, s.tokens, s.heads, s.head_dim});
         outputs = {out};
         return std::function<void()>([=] { ops::rope(x, out, 10000.0f); });
       }},
      {"router",
       [](const RowShape& s) {
         return "T" + std::to_string(s.tokens) + " E" + std::to_string(s.experts) + " k" + std::to_string(s.top_k);
       },
       // fp32 logits in, probabilities out, and the sums the auxiliary losses read (as the model runs it)
       [](const RowShape& s) {
         return 4.0 * static_cast<double>(2 * s.tokens * s.experts + s.tokens +
                                          router_sum_chunks(s.tokens) * s.experts);
       },
       [](Tensors& t, const RowShape& s, std::vector<Tensor>& outputs) {
         const Tensor logits = t.normal_floats({s.tokens, s.experts}, 34, 1.0f);
         const Tensor probs = t.make(DType::f32, {s.tokens, s.experts});
         const Tensor topk = t.make(DType::i32, {s.tokens, s.top_k}), gates = t.make(DType::f32, {s.tokens, s.top_k});
         const ops::RouterSums sums{t.make(DType::f32, {router_sum_chunks(s.tokens), s.experts}),
                                    t.make(DType::f32, {s.tokens})};
         outputs = {probs, gates, sums.prob_sums, sums.lse};
         return std::function<void()>([=] { ops::router(logits, probs, topk, gates, true, sums); });
       }},
      {"router_backward",
       [](const RowShape& s) {
         return "T" + std::to_string(s.tokens) + " E" + std::to_string(s.experts) + " k" + std::to_string(s.top_k);
       },
       // as the model runs it, with the load balance and z-loss: fp32 probs in and dlogits out, topk, gates and
       // dgates, and the saved logsumexps
       [](const RowShape& s) {
         return 4.0 * static_cast<double>(2 * s.tokens * s.experts + 3 * s.tokens * s.top_k + s.tokens);
       },
       [](Tensors& t, const RowShape& s, std::vector<Tensor>& outputs) {
         const Tensor probs = t.make(DType::f32, {s.tokens, s.experts});
         const Tensor topk = t.make(DType::i32, {s.tokens, s.top_k}), gates = t.make(DType::f32, {s.tokens, s.top_k});
         const ops::RouterSums sums{t.make(DType::f32, {router_sum_chunks(s.tokens), s.experts}),
                                    t.make(DType::f32, {s.tokens})};
         ops::router(t.normal_floats({s.tokens, s.experts}, 38, 1.0f), probs, topk, gates, true, sums);
         const Tensor dgates = t.normal_floats({s.tokens, s.top_k}, 39, 1.0f);
         // Any counts do: the kernel's work does not depend on them.
         const Tensor counts = t.ints(std::vector<std::int32_t>(static_cast<std::size_t>(s.experts), 1), {s.experts});
         const Tensor dlogits = t.make(DType::f32, {s.tokens, s.experts});
         outputs = {dlogits};
         return std::function<void()>([=] {
           ops::router_backward(probs, topk, gates, dgates, Tensor{}, dlogits, true, ops::Write::overwrite,
                                {counts, 0.01f, sums.lse, 0.001f});
         });
       }},
      {"edl",
       [](const RowShape& s) {
         return "T" + std::to_string(s.tokens) + " E" + std::to_string(s.experts) + " S" +
                std::to_string(edl_sequences(s.tokens));
       },
       // the domain sums and the backward each read the fp32 probabilities, and the backward adds into dlogits
       [](const RowShape& s) { return 16.0 * static_cast<double>(s.tokens * s.experts); },
       [](Tensors& t, const RowShape& s, std::vector<Tensor>& outputs) {
         const std::int64_t sequences = edl_sequences(s.tokens), labels = 3;
         const Tensor probs = t.make(DType::f32, {s.tokens, s.experts});
         ops::router(t.normal_floats({s.tokens, s.experts}, 40, 1.0f), probs, t.make(DType::i32, {s.tokens, 1}),
                     t.make(DType::f32, {s.tokens, 1}), false);
         std::vector<std::int32_t> domains(static_cast<std::size_t>(sequences));
         for (std::size_t i = 0; i < domains.size(); ++i) domains[i] = static_cast<std::int32_t>(i % labels);
         const Tensor domain_ids = t.ints(domains, {sequences});
         const ops::EdlBuffers buffers{t.make(DType::f32, {labels, s.experts}), t.make(DType::f32, {labels}),
                                       t.make(DType::f32, {labels, labels}), Tensor{},
                                       t.make(DType::f32, {labels, s.experts}), t.make(DType::f32, {1})};
         const Tensor dlogits = t.make(DType::f32, {s.tokens, s.experts});
         outputs = {buffers.loss, dlogits};
         return std::function<void()>([=] {
           ops::expert_divergence_loss(probs, Tensor{}, domain_ids, 1e-6f, buffers, 0.01f, dlogits);
         });
       }},
      {"dispatch_combine",
       [](const RowShape& s) {
         return "T" + std::to_string(s.tokens) + " C" + std::to_string(s.dim) + " k" + std::to_string(s.top_k);
       },
       [](const RowShape& s) { return 4.0 * bf16_bytes(s.tokens * s.top_k * s.dim); },
       [](Tensors& t, const RowShape& s, std::vector<Tensor>& outputs) {
         const std::int64_t N = s.tokens, k = s.top_k, E = s.experts, C = s.dim;
         // Token t's j-th choice is expert (7 t + j) mod E: distinct per token, every expert used.
         std::vector<std::int32_t> choices;
         for (std::int64_t t_k = 0; t_k < N * k; ++t_k)
           choices.push_back(static_cast<std::int32_t>((t_k / k * 7 + t_k % k) % E));
         const Tensor topk = t.ints(choices, {N, k});
         const ops::RoutePlan plan{t.make(DType::i32, {E}), t.make(DType::i32, {E + 1}), t.make(DType::i32, {N, k}),
                                   t.make(DType::i32, {N * k})};
         ops::route_plan(topk, plan);
         const Tensor x = t.normal_activation({N, C}, 35, 1.0f);
         const Tensor gates = t.normal_floats({N, k}, 36, 0.5f);
         const Tensor grouped = t.make(x.dtype, {N * k, C}), out = t.make(x.dtype, {N, C});
         outputs = {out};
         return std::function<void()>([=] {
           ops::dispatch(x, plan, grouped);
           ops::combine(grouped, gates, plan, out);
         });
       }},
      {"cross_entropy_forward",
       [](const RowShape& s) { return "T" + std::to_string(s.tokens) + " V" + std::to_string(s.vocab); },
       [](const RowShape& s) { return 4.0 * static_cast<double>(s.tokens * s.vocab); },
       [](Tensors& t, const RowShape& s, std::vector<Tensor>& outputs) {
         const Tensor logits = t.normal_floats({s.tokens, s.vocab}, 37, 2.0f);
         std::vector<std::int32_t> targets(static_cast<std::size_t>(s.tokens));
         for (std::size_t i = 0; i < targets.size(); ++i)
           targets[i] = static_cast<std::int32_t>((i * 7919) % static_cast<std::size_t>(s.vocab));
         const Tensor target = t.ints(targets, {s.tokens});
         const Tensor lse = t.make(DType::f32, {s.tokens}), loss = t.make(DType::f32, {s.tokens});
         outputs = {lse, loss};
         return std::function<void()>([=] { ops::cross_entropy(logits, target, lse, loss); });
       }},
  };
}

void lab_rows(Lab& lab, const RowShape& s) {
  RowShape reduced = s;
  reduced.tokens = std::min<std::int64_t>(s.tokens, 300);
  for (const RowCase& c : row_cases()) {
    Tensors cpu(Device::cpu), gpu(Device::cuda);
    std::vector<Tensor> cpu_out, gpu_out;
    c.make(cpu, reduced, cpu_out)();
    c.make(gpu, reduced, gpu_out)();
    double error = 0.0;
    for (std::size_t i = 0; i < cpu_out.size(); ++i)
      error = std::max(error, relative_error(to_host(gpu_out[i]), to_host(cpu_out[i])));
    Tensors timed(Device::cuda);
    std::vector<Tensor> outputs;
    const std::function<void()> op = c.make(timed, s, outputs);
    lab.add({c.kernel, c.key(s), "diverge", median_seconds(op, lab.reps), c.bytes(s), "GB/s", error});
  }
}

// ---- optimizer ----------------------------------------------------------------------------------------------------

struct AdamRun {
  Tensors t;
  Tensor params, grads, m, v;

  AdamRun(Device device, std::int64_t n) : t(device) {
    params = t.normal_floats({n}, 41, 0.02f);
    grads = t.normal_floats({n}, 42, 1e-3f);
    m = t.normal_floats({n}, 43, 1e-4f);
    v = t.floats(std::vector<float>(static_cast<std::size_t>(n), 1e-6f), {n});
  }
  void step() { ops::adamw_step(params, grads, m, v, ops::AdamWHyper{}); }
};

void lab_optimizer(Lab& lab, std::int64_t parameters) {
  AdamRun cpu(Device::cpu, std::min<std::int64_t>(parameters, 100000)),
      gpu(Device::cuda, std::min<std::int64_t>(parameters, 100000));
  cpu.step();
  gpu.step();
  const double error = std::max(relative_error(to_host(gpu.params), to_host(cpu.params)),
                                relative_error(to_host(gpu.v), to_host(cpu.v)));
  AdamRun timed(Device::cuda, parameters);
  // Every step reads params, grads, m and v and writes params, m and v, all fp32: 28 bytes a parameter.
  lab.add({"adamw_step", "P" + std::to_string(parameters), "diverge", median_seconds([&] { timed.step(); }, lab.reps),
           28.0 * static_cast<double>(parameters), "GB/s", error});
}

json row_json(const Lab& lab, const Row& r) {
  json j = {{"kernel", r.kernel}, {"shape", r.shape}, {"impl", r.impl}, {"seconds", r.seconds},
            {"work", r.work},     {"unit", r.unit},   {"rate", r.rate()}};
  if (r.error) j["check_error"] = *r.error;
  if (const std::optional<double> share = lab.peak_share(r)) j["peak_share"] = *share;
  return j;
}

json load_shapes(const std::string& set) {
  // The environment's DIVERGE_SOURCE_DIR wins over the tree the lab was built from (a carried build).
  const char* carried = std::getenv("DIVERGE_SOURCE_DIR");
  std::ifstream in(std::string(carried != nullptr ? carried : DIVERGE_SOURCE_DIR) +
                   "/benchmarks/kernel_lab_shapes.json");
  check(in.good(), "kernel_lab", "cannot read benchmarks/kernel_lab_shapes.json");
  const json all = json::parse(in);
  if (set == "full") return all;
  check(set == "tiny", "kernel_lab", "--shapes must be full or tiny, got " + set);
  return all.at("tiny");
}

std::string utc_date() {
  const std::time_t now = std::time(nullptr);
  char text[16];
  std::strftime(text, sizeof text, "%Y-%m-%d", std::gmtime(&now));
  return text;
}

std::string command_line(int argc, char** argv) {
  std::string line = "kernel_lab";
  for (int i = 1; i < argc; ++i) line += std::string(" ") + argv[i];
  return line;
}

struct Flags {
  std::string shapes = "full";
  int reps = 20;
  std::string json_path;
};

Flags parse_flags(int argc, char** argv) {
  Flags flags;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    check(i + 1 < argc, "kernel_lab", "usage: kernel_lab [--shapes full|tiny] [--reps N] [--json FILE]");
    const std::string value = argv[++i];
    if (arg == "--shapes") flags.shapes = value;
    else if (arg == "--reps") flags.reps = std::max(1, std::stoi(value));
    else if (arg == "--json") flags.json_path = value;
    else throw Error("kernel_lab", "unknown flag " + arg);
  }
  return flags;
}

void run_lab(Lab& lab, const json& shapes) {
  for (const json& a : shapes.at("attention"))
    lab_attention(lab, {get(a, "batch"), get(a, "seq"), get(a, "heads"), get(a, "kv_heads"), get(a, "head_dim")});
  for (const json& e : shapes.at("experts"))
    lab_experts(lab, {get(e, "tokens"), get(e, "dim"), get(e, "experts"), get(e, "top_k"), get(e, "hidden")});
  for (const json& r : shapes.at("rows"))
    lab_rows(lab, {get(r, "tokens"), get(r, "dim"), get(r, "heads"), get(r, "head_dim"), get(r, "experts"),
                   get(r, "top_k"), get(r, "vocab")});
  for (const json& o : shapes.at("optimizer")) lab_optimizer(lab, get(o, "parameters"));
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Flags flags = parse_flags(argc, argv);
    if (cuda::device_count() == 0) {
      std::printf("kernel_lab: skipped, no CUDA device (%s)\n", cuda::describe_backend().c_str());
      return 77;
    }
    Lab lab;
    lab.reps = flags.reps;
    std::printf("kernel lab on %s, shapes %s, median of %d runs; %% of the device's peak for the unit; check = "
                "relative error on a reduced shape against the CPU\n",
                cuda::device_name().c_str(), flags.shapes.c_str(), lab.reps);
    run_lab(lab, load_shapes(flags.shapes));
    if (!flags.json_path.empty()) {
      json rows = json::array();
      for (const Row& r : lab.rows) rows.push_back(row_json(lab, r));
      const json meta = {{"device", cuda::device_name()},
                         {"shapes", flags.shapes},
                         {"date", utc_date()},
                         {"command", command_line(argc, argv)}};
      std::ofstream(flags.json_path) << json{{"meta", meta}, {"rows", rows}}.dump(2) << "\n";
    }
    if (lab.failed) {
      std::fprintf(stderr, "kernel_lab: a check exceeded %.0e (marked FAILED above)\n", kLabTolerance);
      return 1;
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kernel_lab: %s\n", e.what());
    return 1;
  }
}
