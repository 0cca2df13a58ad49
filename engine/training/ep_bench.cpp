// The expert-parallel bench: one MoE layer of the config built over the ep group, its pieces timed on every rank.
#include "engine/training/ep_bench.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <numeric>
#include <random>

#include "engine/arena.h"
#include "engine/buffers.h"
#include "engine/comm/world.h"
#include "engine/compute_threads.h"
#include "engine/device_memory.h"
#include "engine/error.h"
#include "engine/step_profile.h"
#include "engine/training/run_preflight.h"
#include "kernels/cuda/device_info.h"
#include "kernels/ops.h"
#include "model/init.h"
#include "model/moe_layer.h"
#include "model/param_layout.h"
#include "model/weights.h"

namespace diverge {
namespace {

using Clock = std::chrono::steady_clock;

// The config's MoE layer as a model of its own: one layer, MoE. It has no attention and no embedding that the bench
// runs, so any length and vocabulary will do.
config::ModelConfig one_moe_layer(const config::ModelConfig& m, std::int64_t tokens) {
  config::ModelConfig one = m;
  one.n_layers = 1;
  one.first_k_dense = 0;
  one.max_seq_len = std::max(m.max_seq_len, tokens);
  one.vocab_size = std::max<std::int64_t>(m.vocab_size, 1);
  return one;
}

// dst (activation dtype, any device) = uniform values in [-1, 1) drawn from seed, by way of f32 on its device.
void fill_uniform(const Tensor& dst, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<float> values(static_cast<std::size_t>(dst.numel()));
  for (float& v : values) v = uniform(rng);
  const auto staged = [&](Buffers& b) { return b.f32({dst.numel()}); };
  Arena staging("bench inputs", dst.device, planned_bytes(dst.device, staged));
  Buffers buffers(staging);
  const Tensor f32 = staged(buffers);
  copy_tensor(make_view(values.data(), DType::f32, Device::cpu, {dst.numel()}), f32);
  ops::cast_to_activation(f32, dst.reshape({dst.numel()}));
}

// This rank's parameters of the layer (its expert shard, the router and any shared experts), initialised as
// training initialises them, the working copy the passes read, and zeroed gradients.
class LayerParameters {
 public:
  LayerParameters(const config::ModelConfig& one, const model::ExpertShard& shard, std::uint64_t seed, Device device)
      : layout_(one, shard),
        masters_("bench parameters", device, block_bytes(DType::f32)),
        working_("bench working parameters", device, block_bytes(ops::activation_dtype(device))),
        grads_("bench gradients", device, block_bytes(DType::f32)) {
    const Tensor masters = masters_.alloc(DType::f32, {layout_.block_elements()});
    Arena host("bench parameters on the host", Device::cpu, block_bytes(DType::f32));
    const Tensor initial = host.alloc_zeroed(DType::f32, {layout_.block_elements()});
    model::init_parameters(layout_, initial, seed, one.init_std, one.n_layers);
    copy_tensor(initial, masters);
    const Tensor working = working_.alloc(ops::activation_dtype(device), {layout_.block_elements()});
    ops::cast_to_activation(masters, working);
    weights_ = model::bind_weights(layout_, working, 1).layers.front().moe;
    grads_view_ =
        model::bind_weights(layout_, grads_.alloc_zeroed(DType::f32, {layout_.block_elements()}), 1).layers.front().moe;
  }

  const model::MoeWeights& weights() const { return weights_; }
  const model::MoeWeights& grads() const { return grads_view_; }

 private:
  std::size_t block_bytes(DType dtype) const {
    return static_cast<std::size_t>(layout_.block_elements()) * dtype_bytes(dtype);
  }

  model::ParamLayout layout_;
  Arena masters_, working_, grads_;
  model::MoeWeights weights_, grads_view_;
};

// One pass's buffers at N tokens a rank: the layer's activations and backward workspace, its input and the gradient
// arriving at its output, its output and input gradient, its two auxiliary losses.
struct PassBuffers {
  model::MoeActs acts;
  model::MoeScratch scratch;
  Tensor h, dout, out, dh;  // (N, C) each
  Tensor losses;            // (2) f32: load balance, z
};

PassBuffers allocate_pass(Buffers& b, const model::Dims& d) {
  const auto rows = [&] { return b.act({d.tokens, d.model}); };
  return {model::allocate_moe(b, d),     model::allocate_moe_scratch(b, d), rows(), rows(), rows(), rows(),
          b.take_zeroed(DType::f32, {2})};
}

// The layer at one size on this rank: dims, settings, buffers; the parameters are shared by every size.
class LayerPass {
 public:
  LayerPass(const config::Config& config, const model::Dims& dims, Comm& group, const LayerParameters& params,
            std::uint64_t seed)
      : dims_(dims),
        group_(group),
        params_(params),
        settings_{.renorm_topk = config.model.renorm_topk,
                  .aux = {static_cast<float>(config.loss.lb_coef), static_cast<float>(config.loss.z_coef)},
                  .balance_group = nullptr,
                  .expert_group = &group,
                  .force_balance = config.parallel.ep_force_balance},
        planned_(planned(dims_, params_)),
        arena_("bench activations", params_.weights().router.device, planned_.bytes()),
        plans_("bench exchange plans", Device::cpu, planned_.host_bytes()) {
    Buffers buffers(arena_, &plans_);
    b_ = allocate_pass(buffers, dims_);
    fill_uniform(b_.h, seed);
    fill_uniform(b_.dout, seed + 1);
    device_zero(b_.out.device, b_.out.data, b_.out.bytes());
  }

  void forward() {
    model::moe_forward(settings_, params_.weights(), b_.h, b_.acts, b_.out,
                       {b_.losses.slice_rows(0, 1), b_.losses.slice_rows(1, 2)});
  }
  void backward() {
    model::moe_backward(settings_, 0, params_.weights(), params_.grads(), b_.h, b_.acts, b_.scratch, {}, b_.dout,
                        b_.dh);
  }

  // The pieces of the exchange and the experts, each repeatable once a forward pass has routed the rows.
  std::int64_t plan() { return model::plan_exchange(group_, b_.acts.dispatch.plan.counts, b_.acts.ep); }
  void dispatch() {
    model::start_send_to_experts(group_, b_.acts.dispatch.grouped, b_.acts.ep, b_.acts.ep.arrivals)->wait();
  }
  void combine() { model::return_from_experts(group_, arrived(b_.acts.experts.out), b_.acts.ep, b_.acts.ep.returned); }
  void experts() {
    const bool exchange = dims_.expert_parallel();
    const ops::ExpertInput rows =
        exchange ? model::arrived_input(group_, b_.acts.ep) : model::experts_input(b_.h, b_.acts.dispatch);
    const Tensor& offsets = exchange ? b_.acts.ep.local.offsets : b_.acts.dispatch.plan.offsets;
    const std::int64_t count = rows.copy_of_row.dim(0);
    const model::ExpertActs acts = model::first_rows(b_.acts.experts, count);
    const model::ExpertScratch scratch = model::first_rows(b_.scratch.experts, count);
    model::experts_forward(rows, offsets, params_.weights().experts, acts);
    ops::copy(acts.out, scratch.dout);
    model::experts_backward(rows, offsets, params_.weights().experts, params_.grads().experts, acts, scratch);
  }

  // Rows sent to and returned from the other ranks, and rows arrived, in the last pass (from every rank's counts).
  struct Traffic {
    double rows_out = 0.0, rows_back = 0.0, arrived = 0.0;
  };
  Traffic traffic() const {
    if (!dims_.expert_parallel()) return {0.0, 0.0, static_cast<double>(dims_.routed_rows())};
    const Tensor& counts = b_.acts.ep.all_counts;  // (P, E) i32
    const std::int64_t ranks = counts.dim(0), experts = counts.dim(1), local = experts / ranks, me = group_.rank();
    Traffic t;
    for (std::int64_t q = 0; q < ranks; ++q)
      for (std::int64_t e = 0; e < local; ++e) {
        const double to_q = counts.i32()[me * experts + q * local + e];
        const double from_q = counts.i32()[q * experts + me * local + e];
        t.arrived += from_q;
        if (q == me) continue;
        t.rows_out += to_q;
        t.rows_back += from_q;
      }
    return t;
  }

 private:
  // A dry run of the pass's buffers on the parameters' device: the activation bytes and the host bytes beside them.
  static Buffers planned(const model::Dims& dims, const LayerParameters& params) {
    Buffers plan(params.weights().router.device);
    allocate_pass(plan, dims);
    return plan;
  }
  Tensor arrived(const Tensor& rows) const { return rows.slice_rows(0, model::arrived_rows(group_, b_.acts.ep)); }

  model::Dims dims_;
  Comm& group_;
  const LayerParameters& params_;
  model::MoeSettings settings_;
  Buffers planned_;  // the dry run that sizes the two arenas
  Arena arena_;
  Arena plans_;  // host: the exchange's counts where the activations are on a device
  PassBuffers b_;
};

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2.0;
}

// values (any length) summed or maximised elementwise over the world, in place.
void reduce_over(Comm& world, std::vector<double>& values, ReduceOp op) {
  world.allreduce(make_view(values.data(), DType::f64, Device::cpu, {std::ssize(values)}), op);
}

// The bench's clock: every rank starts each iteration together and stops when its device has drained.
class Timer {
 public:
  Timer(Comm& world, Device device, const EpBenchOptions& options)
      : world_(world), device_(device), options_(options) {}

  // work warmup times untimed, then the median over iters of the slowest rank's seconds.
  double median_seconds(const std::function<void()>& work) {
    for (std::int64_t i = 0; i < options_.warmup; ++i) work();
    std::vector<double> seconds;
    for (std::int64_t i = 0; i < options_.iters; ++i) seconds.push_back(time_once(work));
    reduce_over(world_, seconds, ReduceOp::max);
    return median(seconds);
  }

  // The parts of this rank's iteration with the median total, under the step profile.
  StepPartSeconds median_parts(const std::function<void()>& work) {
    for (std::int64_t i = 0; i < options_.warmup; ++i) work();
    std::vector<StepPartSeconds> runs;
    for (std::int64_t i = 0; i < options_.iters; ++i) {
      world_.barrier();
      StepProfile::start(device_);
      work();
      runs.push_back(StepProfile::stop());
    }
    const auto total = [](const StepPartSeconds& p) { return std::accumulate(p.begin(), p.end(), 0.0); };
    std::sort(runs.begin(), runs.end(), [&](const auto& a, const auto& b) { return total(a) < total(b); });
    return runs[(runs.size() - 1) / 2];
  }

 private:
  double time_once(const std::function<void()>& work) {
    world_.barrier();
    const auto start = Clock::now();
    work();
    device_synchronize(device_);
    return std::chrono::duration<double>(Clock::now() - start).count();
  }

  Comm& world_;
  Device device_;
  const EpBenchOptions& options_;
};

// The dims of the layer at N tokens a rank under the config's expert parallelism.
model::Dims layer_dims(const config::Config& config, std::int64_t tokens) {
  return model::make_dims(one_moe_layer(config.model, tokens), 1, tokens,
                          {.size = config.parallel.ep, .capacity = config.parallel.ep_capacity});
}

EpSizeTiming time_size(const config::Config& config, std::int64_t tokens, Comm& group, const LayerParameters& params,
                       Timer& timer, Comm& world) {
  LayerPass pass(config, layer_dims(config, tokens), group, params, config.train.seed + world.rank());
  pass.forward();
  EpSizeTiming t{.tokens = tokens};
  if (group.size() > 1) {
    t.plan_seconds = timer.median_seconds([&] { pass.plan(); });
    t.dispatch_seconds = timer.median_seconds([&] { pass.dispatch(); });
    t.combine_seconds = timer.median_seconds([&] { pass.combine(); });
  }
  t.experts_seconds = timer.median_seconds([&] { pass.experts(); });
  const auto traffic = pass.traffic();
  std::vector<double> means{traffic.rows_out, traffic.rows_back, traffic.arrived};
  reduce_over(world, means, ReduceOp::sum);
  const double row_bytes =
      static_cast<double>(config.model.d_model * dtype_bytes(ops::activation_dtype(params.weights().router.device)));
  t.bytes_out = means[0] / world.size() * row_bytes;
  t.bytes_back = means[1] / world.size() * row_bytes;
  t.arrived_rows = means[2] / world.size();
  return t;
}

EpLayerTiming time_layer(const config::Config& config, Comm& group, const LayerParameters& params, Timer& timer,
                         Comm& world) {
  const std::int64_t tokens = config.data.micro_batch * config.data.seq_len;
  LayerPass pass(config, layer_dims(config, tokens), group, params, config.train.seed + world.rank());
  const StepPartSeconds parts = timer.median_parts([&] {
    pass.forward();
    pass.backward();
  });
  const auto part = [&](StepPart p) { return parts[static_cast<std::size_t>(p)]; };
  const double a2a = part(StepPart::communication), experts = part(StepPart::expert_gemm);
  std::vector<double> sums{a2a, experts, std::accumulate(parts.begin(), parts.end(), 0.0) - a2a - experts};
  reduce_over(world, sums, ReduceOp::sum);
  const double ranks = world.size();
  return {.tokens = tokens,
          .a2a_seconds = sums[0] / ranks,
          .experts_seconds = sums[1] / ranks,
          .rest_seconds = sums[2] / ranks};
}

void check_options(const EpBenchOptions& options) {
  check(options.iters >= 1 && options.warmup >= 0, "bench ep", "needs --iters >= 1 and --warmup >= 0");
  for (const std::int64_t n : options.sizes) check(n >= 1, "bench ep", "--sizes must be at least 1 token each");
}

}  // namespace

std::vector<std::int64_t> default_ep_sizes(std::int64_t most) {
  std::vector<std::int64_t> sizes;
  for (std::int64_t n = 64; n < most; n *= 2) sizes.push_back(n);
  sizes.push_back(most);
  return sizes;
}

EpBenchReport bench_ep(const config::Config& given, const EpBenchOptions& options) {
  config::Config config = given;
  config.parallel.ep_force_balance = !options.learned_routing;
  check_options(options);
  Comm& world = world_comm();
  const ProcessGroups groups = open_process_groups(config);
  const Device device = run_device(config);
  const int threads = set_compute_threads(config.train.threads);
  Comm& group = groups.ep();
  const model::Dims dims = layer_dims(config, 1);
  const LayerParameters params(one_moe_layer(config.model, 1), {.index = group.rank(), .count = group.size()},
                               config.train.seed, device);

  EpBenchReport r;
  r.device = device == Device::cpu ? "CPU, " + std::to_string(threads) + " threads" : cuda::device_name();
  r.comm = group.describe();
  r.ranks = world.size();
  r.ep = group.size();
  r.model = dims.model;
  r.experts = dims.experts;
  r.local_experts = dims.local_experts;
  r.top_k = dims.top_k;
  r.expert_hidden = dims.expert_hidden;
  r.element_bytes = static_cast<std::int64_t>(dtype_bytes(ops::activation_dtype(device)));
  r.forced_balance = config.parallel.ep_force_balance;
  r.warmup = options.warmup;
  r.iters = options.iters;
  Timer timer(world, device, options);
  const std::vector<std::int64_t> sizes =
      options.sizes.empty() ? default_ep_sizes(config.data.micro_batch * config.data.seq_len) : options.sizes;
  for (const std::int64_t n : sizes) r.sizes.push_back(time_size(config, n, group, params, timer, world));
  r.layer = time_layer(config, group, params, timer, world);
  return r;
}

double EpSizeTiming::dispatch_gbps() const { return dispatch_seconds > 0.0 ? bytes_out / dispatch_seconds / 1e9 : 0.0; }
double EpSizeTiming::combine_gbps() const { return combine_seconds > 0.0 ? bytes_back / combine_seconds / 1e9 : 0.0; }
double EpSizeTiming::expert_tflops(std::int64_t model, std::int64_t hidden) const {
  const double flops = 6.0 * 3.0 * static_cast<double>(model * hidden) * arrived_rows;
  return experts_seconds > 0.0 ? flops / experts_seconds / 1e12 : 0.0;
}

}  // namespace diverge
