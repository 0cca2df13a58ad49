// The whole model on CUDA against the CPU reference: losses, routing and every gradient, and 20 AdamW steps.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "engine/comm/comm.h"
#include "engine/training/optimizer_step.h"
#include "kernels/cuda/device_info.h"
#include "model/transformer.h"
#include "tests/cuda_support.h"
#include "tests/model_support.h"

using namespace diverge;
using namespace diverge::test;

namespace {

// bf16 keeps 8 significant bits: a rounding moves a value by up to 2^-8 of it (kBf16Rounding). The CUDA pass
// rounds every activation it stores and the weights it reads; a 3-layer forward and backward puts about 60 such
// roundings on the longest path from a parameter to the loss and back. Independent roundings add like a random
// walk: sqrt(60) * 2^-8 = 3%. The losses are means over all tokens, so their rounding errors average down; they
// must agree to 1% of the loss.
constexpr double kGradientTolerance = 0.03 * 2;  // twice the random walk: the errors are not all independent
constexpr double kLossTolerance = 0.01;

double relative_distance(const std::vector<float>& a, const std::vector<float>& b) {
  double diff = 0.0, norm = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
    norm += static_cast<double>(b[i]) * b[i];
  }
  return norm == 0.0 ? std::sqrt(diff) : std::sqrt(diff / norm);
}

std::vector<float> values_of(const Tensor& t) {
  if (t.device == Device::cpu) return host_copy(t);
  return to_host(t);
}

std::vector<std::int32_t> choices_of(const model::Transformer& model, std::int64_t layer) {
  const Tensor& topk = model.routing(layer).topk;
  if (topk.device == Device::cpu) return {topk.i32(), topk.i32() + topk.numel()};
  return i32_to_host(topk);
}

void check_losses(const model::Losses& gpu, const model::Losses& cpu) {
  CHECK(std::abs(gpu.lm - cpu.lm) <= kLossTolerance * std::abs(cpu.lm));
  CHECK(std::abs(gpu.lb - cpu.lb) <= kLossTolerance * std::abs(cpu.lb));
  CHECK(std::abs(gpu.z - cpu.z) <= kLossTolerance * std::abs(cpu.z));
  CHECK(std::abs(gpu.total - cpu.total) <= kLossTolerance * std::abs(cpu.total));
}

}  // namespace

TEST_CASE("the model on CUDA: losses, routing and every gradient agree with the CPU within bf16's rounding") {
  if (!cuda_available()) return;
  const config::ModelConfig m = cuda_model();
  const config::LossConfig loss = tiny_loss(0.1, 0.01);
  model::Transformer cpu(m, loss, 2, 13, 5);
  // The GPU's LM head runs in chunks of 7 of the 26 rows (the last one 5): the chunked path against the whole one.
  model::Transformer gpu(m, loss, 2, 13, 5, Device::cuda, 7);
  CHECK(values_of(gpu.params()) == values_of(cpu.params()));

  TokenBatch batch(2, 13, m.vocab_size, 6);
  const model::Losses cpu_losses = forward_losses(cpu, batch.tensor());
  const model::Losses gpu_losses = forward_losses(gpu, batch.tensor());
  check_losses(gpu_losses, cpu_losses);
  for (std::int64_t l = m.first_k_dense; l < m.n_layers; ++l) {
    CAPTURE(l);
    CHECK(choices_of(gpu, l) == choices_of(cpu, l));
    CHECK(gpu.expert_counts(l) == cpu.expert_counts(l));
  }

  cpu.backward();
  gpu.backward();
  const std::vector<float> cpu_grads = values_of(cpu.grads()), gpu_grads = values_of(gpu.grads());
  for (const model::NamedView& view : cpu.layout().named_views()) {
    CAPTURE(view.name);
    const auto begin = static_cast<std::size_t>(view.offset);
    std::int64_t n = 1;
    for (std::int64_t extent : view.shape) n *= extent;
    const std::vector<float> c(cpu_grads.begin() + begin, cpu_grads.begin() + begin + n);
    const std::vector<float> g(gpu_grads.begin() + begin, gpu_grads.begin() + begin + n);
    CHECK(relative_distance(g, c) <= kGradientTolerance);
  }
}

TEST_CASE("the model on CUDA waits for the device only where the host must read") {
  if (!cuda_available()) return;
  const config::ModelConfig m = cuda_model();
  model::Transformer gpu(m, tiny_loss(0.1, 0.01), 2, 13, 5, Device::cuda);
  TokenBatch batch(2, 13, m.vocab_size, 6);
  gpu.forward(batch.tensor());  // the first pass also plans the products and grows the scratch buffers
  gpu.backward();
  gpu.take_losses();
  std::uint64_t before = cuda::host_waits();
  gpu.forward(batch.tensor());
  gpu.backward();
  // None: the routing plan trusts the router's choices instead of reading a check of them back, the expert FFN's
  // grouped products read their row offsets on the device, and the losses stay on the device.
  CHECK(cuda::host_waits() - before == 0);
  before = cuda::host_waits();
  gpu.take_losses();
  CHECK(cuda::host_waits() - before == 1);
}

TEST_CASE("20 AdamW steps on CUDA track the CPU's loss curve") {
  if (!cuda_available()) return;
  const config::ModelConfig m = cuda_model();
  const config::LossConfig loss = tiny_loss(0.1, 0.01);
  config::OptimConfig optim;
  optim.lr = 3e-3;
  optim.grad_clip = 1.0;
  model::Transformer cpu(m, loss, 2, 13, 7);
  model::Transformer gpu(m, loss, 2, 13, 7, Device::cuda);
  const std::int64_t params = cpu.layout().block_elements(), decayed = cpu.layout().decay_elements();
  OptimizerStep cpu_optimizer(optim, params, decayed, Device::cpu);
  OptimizerStep gpu_optimizer(optim, params, decayed, Device::cuda);
  const auto comm = make_single_process_comm();

  // One batch over and over: the loss falls fast as the model learns it, so the curves cover a real range.
  TokenBatch batch(2, 13, m.vocab_size, 8);
  std::vector<float> cpu_curve, gpu_curve;
  for (std::int64_t step = 1; step <= 20; ++step) {
    for (auto [model, optimizer, curve] : {std::tuple{&cpu, &cpu_optimizer, &cpu_curve},
                                           std::tuple{&gpu, &gpu_optimizer, &gpu_curve}}) {
      curve->push_back(forward_losses(*model, batch.tensor()).total);
      model->backward();
      const ReducedGradients reduced = OptimizerStep::reduce_gradients(*comm, model->grads(), 1);
      optimizer->update(model->params(), model->grads(), reduced, optim.lr, step);
    }
  }
  for (std::size_t i = 0; i < cpu_curve.size(); ++i) {
    CAPTURE(i);
    CHECK(std::abs(gpu_curve[i] - cpu_curve[i]) <= kLossTolerance * std::abs(cpu_curve[i]));
  }
  // Training must have moved the loss, or the comparison would only show that both ran the first step.
  CHECK(cpu_curve.back() < cpu_curve.front() - 0.05f);
}
