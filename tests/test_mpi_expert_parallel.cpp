// Expert parallelism at any world size: alone and under mpirun at 2 and 4 ranks, every expert-parallel group size the
// world allows. The exchange delivers each row to its expert's rank, expert and position and brings it back in
// place; a MoE layer whose experts are spread over the group computes what one process computes on the group's
// tokens together, to f32 rounding: the outputs, the input gradients and every expert gradient (none doubled, none
// dropped); and the gradient reduction sums each expert shard over the ranks that hold it and counts it once in
// the norm.
#include <doctest/doctest.h>

#include <algorithm>
#include <memory>
#include <cmath>
#include <functional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "engine/arena.h"
#include "engine/buffers.h"
#include "engine/device_memory.h"
#include "engine/comm/process_groups.h"
#include "engine/comm/routed_comm.h"
#include "engine/comm/world.h"
#include "engine/error.h"
#include "engine/training/optimizer_step.h"
#include "model/ep_dispatcher.h"
#include "model/moe_layer.h"
#include "model/param_layout.h"
#include "kernels/cuda/device_info.h"
#include "kernels/ops.h"
#include "tests/cuda_support.h"
#include "tests/model_support.h"

using namespace diverge;
using namespace diverge::model;

namespace {

// The expert-parallel sizes to try: every divisor of the world size above 1, or 1 alone for a single process.
std::vector<std::int64_t> ep_sizes() {
  const int world = world_comm().size();
  std::vector<std::int64_t> sizes;
  for (int p = 2; p <= world; ++p)
    if (world % p == 0) sizes.push_back(p);
  if (sizes.empty()) sizes.push_back(1);
  return sizes;
}

// The world rank of member i of this rank's expert-parallel group (consecutive ranks: process_groups.h).
int member(std::int64_t ep, std::int64_t i) { return static_cast<int>(world_comm().rank() / ep * ep + i); }

// ---- the exchange --------------------------------------------------------------------------------------------------

constexpr std::int64_t kExperts = 8, kTopK = 2, kWidth = 4;  // a row: (sender, token, copy, expert)

// World rank 1 has no tokens; the others a few, more on higher ranks.
std::int64_t tokens_of(int sender) { return sender == 1 ? 0 : 3 + 2 * sender; }

// Copy j of token t on sender s goes to this expert: never the last one, so some experts get no rows at all.
std::int32_t expert_of(int sender, std::int64_t t, std::int64_t j) {
  const std::int64_t first = (sender + 3 * t) % (kExperts - 1);
  return static_cast<std::int32_t>(j == 0 ? first : (first + 1 + t % 3) % (kExperts - 1));
}

std::vector<float> row(int sender, std::int64_t t, std::int64_t j, float expert) {
  return {static_cast<float>(sender), static_cast<float>(t), static_cast<float>(j), expert};
}

// The rows the experts of group member `me` should receive, grouped by local expert; within one, by sender, then by
// the sender's token and copy order. offsets (E / P + 1) says where each expert's rows start.
std::vector<float> expected_arrivals(std::int64_t ep, std::int64_t me, std::vector<std::int32_t>& offsets) {
  const std::int64_t local = kExperts / ep;
  std::vector<float> rows;
  offsets = {0};
  for (std::int64_t e = 0; e < local; ++e) {
    for (std::int64_t i = 0; i < ep; ++i) {
      const int sender = member(ep, i);
      for (std::int64_t t = 0; t < tokens_of(sender); ++t)
        for (std::int64_t j = 0; j < kTopK; ++j)
          if (expert_of(sender, t, j) == me * local + e) {
            const auto r = row(sender, t, j, -1.0f);
            rows.insert(rows.end(), r.begin(), r.end());
          }
    }
    offsets.push_back(static_cast<std::int32_t>(rows.size() / kWidth));
  }
  return rows;
}

Dims exchange_dims(std::int64_t ep, std::int64_t tokens, std::int64_t expert_rows) {
  Dims d;
  d.tokens = tokens;
  d.top_k = kTopK;
  d.model = kWidth;
  d.experts = kExperts;
  d.ep = ep;
  d.local_experts = kExperts / ep;
  d.expert_rows = expert_rows;
  return d;
}

// The devices the exchange is tried on: the CPU, and CUDA where every rank has a device of its own (the emulator,
// whose ranks each emulate one; GPUs, one per rank, as NCCL wants).
std::vector<Device> exchange_devices() {
  std::vector<Device> devices{Device::cpu};
#ifdef DIVERGE_CUDA_EMULATOR
  devices.push_back(Device::cuda);
#else
  if (cuda::device_count() >= world_comm().size()) devices.push_back(Device::cuda);
#endif
  return devices;
}

// This rank's side of an exchange on one device: its routed copies grouped by global expert as the dispatcher
// leaves them, the exchange's buffers, and f32 staging for the rows' way to and from the activation dtype.
struct Exchange {
  Tensor topk;  // (N, k) i32
  ops::RoutePlan plan;
  Tensor home;     // (N * k, 4): (sender, token, copy, -1) in grouped order
  Tensor back;     // (N * k, 4): the rows come home here
  Tensor local;    // (R, 4): the arrivals grouped by local expert
  Tensor staging;  // (R, 4) f32, R >= N * k
  EpActs acts;
};

Exchange make_exchange(Buffers& buffers, const Dims& d) {
  Exchange x;
  x.topk = buffers.i32({d.tokens, kTopK});
  x.plan.counts = buffers.i32({kExperts});
  x.plan.offsets = buffers.i32({kExperts + 1});
  x.plan.row_of_copy = buffers.i32({d.tokens, kTopK});
  x.plan.copy_of_row = buffers.i32({d.routed_rows()});
  x.home = buffers.act({d.routed_rows(), kWidth});
  x.back = buffers.act({d.routed_rows(), kWidth});
  x.local = buffers.act({d.expert_rows, kWidth});
  x.staging = buffers.f32({std::max(d.expert_rows, d.routed_rows()), kWidth});
  x.acts = allocate_ep_dispatch(buffers, d);
  return x;
}

// Rows (n, 4) in the activation dtype on any device, to and from host floats (exact: small integers).
void upload_rows(const std::vector<float>& rows, const Exchange& x, const Tensor& dst) {
  const Tensor staged = x.staging.slice_rows(0, dst.dim(0));
  copy_tensor(make_view(const_cast<float*>(rows.data()), DType::f32, Device::cpu, {dst.dim(0), kWidth}), staged);
  ops::cast_to_activation(staged, dst);
}
std::vector<float> download_rows(const Tensor& rows) {
  if (rows.dtype == DType::bf16) return test::bf16_to_host(rows);
  std::vector<float> host(static_cast<std::size_t>(rows.numel()));
  copy_tensor(rows, make_view(host.data(), DType::f32, Device::cpu, {rows.numel()}));
  return host;
}
std::vector<std::int32_t> download_i32(const Tensor& t) {
  std::vector<std::int32_t> host(static_cast<std::size_t>(t.numel()));
  copy_tensor(t, make_view(host.data(), DType::i32, Device::cpu, {t.numel()}));
  return host;
}

// Routes world rank `sender`'s copies and lays its rows out grouped by expert: the rows, on the host.
std::vector<float> route_home(int sender, const Exchange& x) {
  const std::int64_t tokens = tokens_of(sender);
  std::vector<std::int32_t> topk;
  for (std::int64_t t = 0; t < tokens; ++t)
    for (std::int64_t j = 0; j < kTopK; ++j) topk.push_back(expert_of(sender, t, j));
  copy_tensor(make_view(topk.data(), DType::i32, Device::cpu, {tokens, kTopK}), x.topk);
  ops::route_plan(x.topk, x.plan);
  std::vector<float> rows;
  for (const std::int32_t copy : download_i32(x.plan.copy_of_row)) {
    const auto r = row(sender, copy / kTopK, copy % kTopK, -1.0f);
    rows.insert(rows.end(), r.begin(), r.end());
  }
  upload_rows(rows, x, x.home);
  return rows;
}

// This rank's side of an exchange within its group of `ep` ranks on `device`, planned for expert_rows arrivals.
struct ExchangeSetup {
  std::unique_ptr<Comm> device_world;  // the world for device tensors (null on the CPU)
  ProcessGroups groups;
  Dims dims;
  Arena arena;
  Arena plans;
  Exchange x;
  std::vector<float> home_rows;

  ExchangeSetup(std::int64_t ep, std::int64_t expert_rows, Device device)
      : device_world(device == Device::cpu ? nullptr : make_device_world(world_comm())),
        groups(device_world ? *device_world : world_comm(), ep),
        dims(exchange_dims(ep, tokens_of(world_comm().rank()), expert_rows)),
        arena("exchange", device, planned(device, dims).bytes()),
        plans("exchange plans", Device::cpu, planned(device, dims).host_bytes()) {
    Buffers buffers(arena, &plans);
    x = make_exchange(buffers, dims);
    home_rows = route_home(world_comm().rank(), x);
  }

  static Buffers planned(Device device, const Dims& d) {
    Buffers plan(device);
    make_exchange(plan, d);
    return plan;
  }
};

// ---- the MoE layer -------------------------------------------------------------------------------------------------

// The tiny test model's sizes with this file's experts, as one MoE layer with `shared` shared experts.
config::ModelConfig layer_config(std::int64_t shared = 0) {
  config::ModelConfig m = test::tiny_model();
  m.n_layers = 1;
  m.first_k_dense = 0;
  m.n_shared_experts = shared;
  m.n_experts = kExperts;
  m.top_k = kTopK;
  return m;
}

constexpr std::int64_t kSeq = 6;  // each rank's tokens in the layer test: one sequence

// A smooth, sign-changing pattern: distinct values that every rank computes alike.
std::vector<float> pattern(std::int64_t n, double seed) {
  std::vector<float> v(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i)
    v[static_cast<std::size_t>(i)] = static_cast<float>(0.5 * std::sin(0.731 * static_cast<double>(i) + seed));
  return v;
}

// The layer's parameters (or gradients) over every expert, in vectors of their own.
struct LayerParams {
  std::vector<float> router, gate, up, down;
  std::vector<float> shared_gate, shared_up, shared_down;  // empty without shared experts

  LayerParams(const Dims& d, bool zero) {
    const std::int64_t C = d.model, F = d.expert_hidden, E = d.experts, S = d.shared_hidden;
    const auto values = [zero](std::int64_t n, double seed) {
      return zero ? std::vector<float>(static_cast<std::size_t>(n)) : pattern(n, seed);
    };
    router = values(E * C, 0.1);
    gate = values(E * F * C, 0.2);
    up = values(E * F * C, 0.3);
    down = values(E * C * F, 0.4);
    shared_gate = values(S * C, 0.5);
    shared_up = values(S * C, 0.6);
    shared_down = values(C * S, 0.7);
  }

  // The router and experts [first, first + count) as the layer sees them.
  MoeWeights view(const Dims& d, std::int64_t first, std::int64_t count) {
    const std::int64_t C = d.model, F = d.expert_hidden, E = d.experts;
    const auto stack = [&](std::vector<float>& v, std::int64_t a, std::int64_t b) {
      return make_view(v.data(), DType::f32, Device::cpu, {E, a, b}).slice_rows(first, first + count);
    };
    MoeWeights w;
    w.router = make_view(router.data(), DType::f32, Device::cpu, {E, C});
    w.experts = {stack(gate, F, C), stack(up, F, C), stack(down, C, F)};
    if (const std::int64_t S = d.shared_hidden; S > 0)
      w.shared = {make_view(shared_gate.data(), DType::f32, Device::cpu, {S, C}),
                  make_view(shared_up.data(), DType::f32, Device::cpu, {S, C}),
                  make_view(shared_down.data(), DType::f32, Device::cpu, {C, S})};
    return w;
  }
};

// The tokens of world rank s (its h rows, kSeq x C) and the gradient arriving at its layer output.
std::vector<float> inputs_of(int sender, std::int64_t width) { return pattern(kSeq * width, 1.0 + sender); }
std::vector<float> output_grad_of(int sender, std::int64_t width) { return pattern(kSeq * width, -2.0 - sender); }

// One MoE layer pass, forward and backward, over h (N, C) with dout (N, C): its output and input gradient.
struct LayerRun {
  std::vector<float> out, dh;
};

// One MoE layer's tensors, in an arena of their own: its activations, scratch, output, input gradient and losses.
struct LayerPass {
  struct Tensors {
    MoeActs acts;
    MoeScratch scratch;
    Tensor out, dh, losses;  // (N, C), (N, C), (2)
  };

  explicit LayerPass(const Dims& d)
      : arena("moe layer", Device::cpu, planned_bytes(Device::cpu, [&](Buffers& b) { return allocate(b, d); })),
        buffers(arena),
        t(allocate(buffers, d)) {
    std::fill(t.out.f32(), t.out.f32() + t.out.numel(), 0.0f);
  }

  void forward(const MoeSettings& s, const MoeWeights& w, std::vector<float>& h) const {
    moe_forward(s, w, view(h), t.acts, t.out, {t.losses.slice_rows(0, 1), t.losses.slice_rows(1, 2)});
  }
  void backward(const MoeSettings& s, const MoeWeights& w, const MoeWeights& dw, std::vector<float>& h,
                std::vector<float>& dout) const {
    moe_backward(s, 0, w, dw, view(h), t.acts, t.scratch, {}, view(dout), t.dh);
  }

  static Tensors allocate(Buffers& b, const Dims& d) {
    return {allocate_moe(b, d), allocate_moe_scratch(b, d), b.act({d.tokens, d.model}), b.act({d.tokens, d.model}),
            b.f32({2})};
  }
  Tensor view(std::vector<float>& rows) const {
    return make_view(rows.data(), DType::f32, Device::cpu, {t.out.dim(0), t.out.dim(1)});
  }

  Arena arena;
  Buffers buffers;
  const Tensors t;
};

LayerRun run_layer(const Dims& d, Comm* expert_group, const MoeWeights& w, const MoeWeights& dw,
                   std::vector<float>& h, std::vector<float>& dout) {
  LayerPass pass(d);
  const MoeSettings settings{.renorm_topk = true, .aux = {}, .balance_group = nullptr, .expert_group = expert_group};
  pass.forward(settings, w, h);
  pass.backward(settings, w, dw, h, dout);
  return {test::host_copy(pass.t.out), test::host_copy(pass.t.dh)};
}

std::vector<float> rows_of(const std::vector<float>& v, std::int64_t begin, std::int64_t end, std::int64_t width) {
  return {v.begin() + begin * width, v.begin() + end * width};
}

double max_difference(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  double worst = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(double{a[i]} - double{b[i]}));
  return worst;
}

}  // namespace

TEST_CASE("expert parallel: each row reaches its expert's rank, expert and position, and comes back in place") {
  Comm& world = world_comm();
  for (const Device device : exchange_devices())
    for (const std::int64_t ep : ep_sizes()) {
      CAPTURE(device_name(device));
      CAPTURE(ep);
      std::int64_t most_tokens = 0;
      for (std::int64_t i = 0; i < ep; ++i) most_tokens = std::max(most_tokens, tokens_of(member(ep, i)));
      ExchangeSetup setup(ep, ep * most_tokens * kTopK, device);
      Comm& group = setup.groups.ep();
      const Dims& d = setup.dims;
      Exchange& x = setup.x;
      const int sender = world.rank();

      std::vector<std::int32_t> want_offsets;
      const std::vector<float> want = expected_arrivals(ep, group.rank(), want_offsets);
      const std::int64_t arrived = plan_exchange(group, x.plan.counts, x.acts);
      REQUIRE(arrived == std::ssize(want) / kWidth);
      CHECK(arrived_rows(group, x.acts) == arrived);
      const Tensor local = x.local.slice_rows(0, arrived);
      send_to_experts(group, x.home, x.acts, local);
      std::vector<float> arrivals = download_rows(local);
      CHECK(arrivals == want);
      const std::vector<std::int32_t> offsets = download_i32(x.acts.local.offsets);
      CHECK(offsets == want_offsets);

      // Each expert stamps its global index on its rows; back home, every row must hold the expert its copy chose.
      const std::int64_t first_expert = group.rank() * d.local_experts;
      for (std::int64_t e = 0; e < d.local_experts; ++e)
        for (std::int32_t r = offsets[static_cast<std::size_t>(e)]; r < offsets[static_cast<std::size_t>(e + 1)]; ++r)
          arrivals[static_cast<std::size_t>(r * kWidth + 3)] = static_cast<float>(first_expert + e);
      upload_rows(arrivals, x, local);
      upload_rows(std::vector<float>(setup.home_rows.size(), -7.0f), x, x.back);
      return_from_experts(group, local, x.acts, x.back);
      std::vector<float> stamped;
      for (const std::int32_t copy : download_i32(x.plan.copy_of_row)) {
        const auto rr = row(sender, copy / kTopK, copy % kTopK,
                            static_cast<float>(expert_of(sender, copy / kTopK, copy % kTopK)));
        stamped.insert(stamped.end(), rr.begin(), rr.end());
      }
      CHECK(download_rows(x.back) == stamped);
    }
  world.barrier();
}

TEST_CASE("expert parallel: more arrivals than planned stop with an error naming parallel.ep_capacity") {
  Comm& world = world_comm();
  for (const Device device : exchange_devices())
    for (const std::int64_t ep : ep_sizes()) {
      CAPTURE(device_name(device));
      CAPTURE(ep);
      ExchangeSetup setup(ep, 1, device);
      Comm& group = setup.groups.ep();
      std::vector<std::int32_t> offsets;
      const auto want = expected_arrivals(ep, group.rank(), offsets);
      std::string message;
      try {
        plan_exchange(group, setup.x.plan.counts, setup.x.acts);
      } catch (const Error& e) {
        message = e.what();
      }
      // Every rank gathers the counts first, so one rank's refusal leaves no other waiting.
      if (std::ssize(want) / kWidth > 1) {
        CHECK_MESSAGE(message.find("parallel.ep_capacity") != std::string::npos, message);
      } else {
        CHECK(message.empty());
      }
    }
  world.barrier();
}

// The experts of an expert-parallel group see exactly the rows one process would give them for the group's tokens
// together, in the same order (by expert, then sender, then token). The CPU kernels still round a little
// differently when a product has fewer rows (the router's logits over one rank's tokens rather than the group's),
// and the router's gradient sums over tokens that the group splits among its ranks. Measured at ep 2 and 4: outputs,
// input gradients, expert and router gradients within 1.2e-7 of one process's, for values up to 0.75; 1e-6 leaves
// a margin of 8. A row sent to the wrong expert, or a rank's rows dropped or counted twice, moves the gradients by
// that row's contribution, 1e-3 to 0.5 here.
constexpr double kLayerTolerance = 1e-6;

TEST_CASE("expert parallel: a MoE layer over the group equals one process on the group's tokens, gradients included") {
  Comm& world = world_comm();
  for (const std::int64_t shared_experts : {0, 1})
    for (const std::int64_t ep : ep_sizes()) {
      CAPTURE(shared_experts);
      CAPTURE(ep);
      const config::ModelConfig m = layer_config(shared_experts);
      const ProcessGroups groups(world, ep);
      Comm& group = groups.ep();
      const std::int64_t me = group.rank();

      const Dims whole = make_dims(m, ep, kSeq);
      const std::int64_t C = whole.model;
      std::vector<float> h, dout;
      for (std::int64_t i = 0; i < ep; ++i) {
        const auto hi = inputs_of(member(ep, i), C), di = output_grad_of(member(ep, i), C);
        h.insert(h.end(), hi.begin(), hi.end());
        dout.insert(dout.end(), di.begin(), di.end());
      }
      LayerParams params(whole, false), alone_grads(whole, true);
      const LayerRun alone = run_layer(whole, nullptr, params.view(whole, 0, kExperts),
                                       alone_grads.view(whole, 0, kExperts), h, dout);

      const Dims part = make_dims(m, 1, kSeq, {.size = ep, .capacity = 0.0});
      const std::int64_t local = part.local_experts;
      std::vector<float> my_h = inputs_of(world.rank(), C), my_dout = output_grad_of(world.rank(), C);
      LayerParams grads(part, true);
      const LayerRun spread = run_layer(part, &group, params.view(part, me * local, local),
                                        grads.view(part, me * local, local), my_h, my_dout);

      CHECK(max_difference(spread.out, rows_of(alone.out, me * kSeq, (me + 1) * kSeq, C)) < kLayerTolerance);
      CHECK(max_difference(spread.dh, rows_of(alone.dh, me * kSeq, (me + 1) * kSeq, C)) < kLayerTolerance);
      const std::int64_t per_expert = whole.expert_hidden * C;
      for (auto [mine, want] : {std::pair{&grads.gate, &alone_grads.gate}, std::pair{&grads.up, &alone_grads.up},
                                std::pair{&grads.down, &alone_grads.down}}) {
        CHECK(max_difference(rows_of(*mine, me * local, (me + 1) * local, per_expert),
                             rows_of(*want, me * local, (me + 1) * local, per_expert)) < kLayerTolerance);
        // The other experts' gradients are not this rank's: nothing may land there.
        std::vector<float> others = *mine;
        std::fill(others.begin() + me * local * per_expert, others.begin() + (me + 1) * local * per_expert, 0.0f);
        CHECK(others == std::vector<float>(others.size(), 0.0f));
      }
      // The router and the shared experts are every rank's: their gradients sum over the group.
      for (auto [mine, want] : {std::pair{&grads.router, &alone_grads.router},
                                std::pair{&grads.shared_gate, &alone_grads.shared_gate},
                                std::pair{&grads.shared_up, &alone_grads.shared_up},
                                std::pair{&grads.shared_down, &alone_grads.shared_down}}) {
        if (mine->empty()) continue;  // no shared experts
        group.allreduce(make_view(mine->data(), DType::f32, Device::cpu, {std::ssize(*mine)}), ReduceOp::sum);
        CHECK(max_difference(*mine, *want) < kLayerTolerance);
      }
    }
  world.barrier();
}

namespace {

// The group's collectives, passed on, with a look at the layer's tensors when a started all-to-all starts and when
// it is waited for: what the layer computed between the two is what the exchange's time may hide.
class WatchingGroup final : public Comm {
 public:
  WatchingGroup(Comm& inner, std::function<void(const char*)> look) : inner_(inner), look_(std::move(look)) {}
  int rank() const override { return inner_.rank(); }
  int size() const override { return inner_.size(); }
  std::string describe() const override { return inner_.describe(); }
  void allreduce(const Tensor& buf, ReduceOp op) override { inner_.allreduce(buf, op); }
  void reduce_scatter(const Tensor& send, const Tensor& recv, ReduceOp op) override {
    inner_.reduce_scatter(send, recv, op);
  }
  void allgather(const Tensor& send, const Tensor& recv) override { inner_.allgather(send, recv); }
  void all_to_all_v(const Tensor& send, std::span<const std::int64_t> send_counts, const Tensor& recv,
                    std::span<const std::int64_t> recv_counts) override {
    look_("unstarted all_to_all_v");
    inner_.all_to_all_v(send, send_counts, recv, recv_counts);
  }
  std::unique_ptr<InFlight> start_all_to_all_v(const Tensor& send, std::span<const std::int64_t> send_counts,
                                               const Tensor& recv, std::span<const std::int64_t> recv_counts) override {
    look_("start");
    class Watched final : public InFlight {
     public:
      Watched(std::unique_ptr<InFlight> inner, const std::function<void(const char*)>& look)
          : inner_(std::move(inner)), look_(look) {}
      void wait() override {
        look_("wait");
        inner_->wait();
      }

     private:
      std::unique_ptr<InFlight> inner_;
      const std::function<void(const char*)>& look_;
    };
    return std::make_unique<Watched>(inner_.start_all_to_all_v(send, send_counts, recv, recv_counts), look_);
  }
  void broadcast(const Tensor& buf, int root) override { inner_.broadcast(buf, root); }
  void barrier() override { inner_.barrier(); }
  std::unique_ptr<Comm> split(int color, int key) override { return inner_.split(color, key); }

 private:
  Comm& inner_;
  std::function<void(const char*)> look_;
};

bool all_of_zero(const Tensor& t) {
  return std::all_of(t.f32(), t.f32() + t.numel(), [](float v) { return v == 0.0f; });
}
bool all_nan(const Tensor& t) {
  return std::all_of(t.f32(), t.f32() + t.numel(), [](float v) { return std::isnan(v); });
}
bool any_nan(const Tensor& t) {
  return std::any_of(t.f32(), t.f32() + t.numel(), [](float v) { return std::isnan(v); });
}
void fill_nan(const Tensor& t) { std::fill(t.f32(), t.f32() + t.numel(), std::nanf("")); }

}  // namespace

TEST_CASE("expert parallel: the shared experts compute while the rows travel, each half beside one all-to-all") {
  Comm& world = world_comm();
  const config::ModelConfig m = layer_config(1);
  for (const std::int64_t ep : ep_sizes()) {
    if (ep == 1) continue;  // one rank exchanges nothing
    CAPTURE(ep);
    const ProcessGroups groups(world, ep);
    const Dims d = make_dims(m, 1, kSeq, {.size = ep, .capacity = 0.0});
    const std::int64_t local = d.local_experts, me = groups.ep().rank();
    LayerParams params(d, false), grads(d, true);
    const MoeWeights w = params.view(d, me * local, local), dw = grads.view(d, me * local, local);
    LayerPass pass(d);
    const auto& r = pass.t;
    std::vector<float> h = inputs_of(world.rank(), d.model), dout = output_grad_of(world.rank(), d.model);
    fill_nan(r.acts.shared.hidden);
    fill_nan(r.dh);

    // What each look saw: whether the shared experts' part of that pass had been computed yet.
    std::string seen;
    const auto written = [](bool done) { return done ? "done" : "not yet"; };
    bool backward = false;
    WatchingGroup group(groups.ep(), [&](const char* moment) {
      const std::string at = std::string(backward ? "backward " : "forward ") + moment + ": ";
      if (!backward) {
        const bool hidden = !any_nan(r.acts.shared.hidden), output = !all_of_zero(r.out);
        seen += at + "hidden " + written(hidden) + ", output " + written(output) + "\n";
      } else {
        const bool weights = !all_of_zero(dw.shared.gate) && !all_of_zero(dw.shared.down);
        seen += at + "weight gradients " + written(weights) + ", input gradient " + written(!all_nan(r.dh)) + "\n";
      }
    });
    const MoeSettings settings{.renorm_topk = true, .aux = {}, .balance_group = nullptr, .expert_group = &group};
    pass.forward(settings, w, h);
    backward = true;
    pass.backward(settings, w, dw, h, dout);
    CHECK(seen ==
          "forward start: hidden not yet, output not yet\n"
          "forward wait: hidden done, output not yet\n"
          "forward start: hidden done, output not yet\n"
          "forward wait: hidden done, output done\n"
          "backward start: weight gradients not yet, input gradient not yet\n"
          "backward wait: weight gradients done, input gradient not yet\n"
          "backward start: weight gradients done, input gradient not yet\n"
          "backward wait: weight gradients done, input gradient done\n");
  }
  world.barrier();
}

namespace {

// Every rank's gradient of a parameter element: small multiples of 1/8, so that sums and squares are exact in f32
// and double; the norm then differs from the expected one by the rounding of a square root and a division only.
float rank_gradient(int rank, std::size_t view, std::int64_t element) {
  const auto step = static_cast<std::int64_t>((view * 7 + static_cast<std::size_t>(element)) % 5);
  return static_cast<float>((rank + 1) * step) / 8.0f;
}

}  // namespace

TEST_CASE("expert parallel: expert gradients sum over the ranks holding them, the norm counts each parameter once") {
  Comm& world = world_comm();
  config::ModelConfig m = layer_config();
  m.n_layers = 2;
  const model::ParamLayout whole(m);
  const std::vector<model::NamedView> whole_views = whole.named_views();
  const std::int64_t micro_batches = 2;
  for (const std::int64_t ep : ep_sizes()) {
    CAPTURE(ep);
    const ProcessGroups groups(world, ep);
    const model::ParamLayout shard(m, {.index = groups.ep().rank(), .count = ep});
    const std::int64_t local = kExperts / ep;
    // Who holds a tensor of the whole model: every rank, or for an expert the ranks of its shard (world rank % ep).
    const auto holds = [&](const std::string& name, int rank) {
      const std::int64_t expert = test::expert_in_name(name);
      return expert < 0 || expert / local == rank % ep;
    };
    const auto whole_index = [&](const std::string& name) { return test::view_index(whole_views, name); };
    const auto reduced = [&](std::size_t view, std::int64_t element) {
      float sum = 0.0f;
      for (int r = 0; r < world.size(); ++r)
        if (holds(whole_views[view].name, r)) sum += rank_gradient(r, view, element);
      return sum;
    };

    std::vector<float> memory(static_cast<std::size_t>(shard.block_elements()), 0.0f);
    const Tensor block = make_view(memory.data(), DType::f32, Device::cpu, {shard.block_elements()});
    for (const model::NamedView& v : shard.named_views()) {
      const Tensor t = model::named_view(block, v);
      for (std::int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = rank_gradient(world.rank(), whole_index(v.name), i);
    }
    const ReducedGradients got =
        OptimizerStep::reduce_gradients(groups, shard.sharded_elements(), block, micro_batches);

    for (const model::NamedView& v : shard.named_views()) {
      CAPTURE(v.name);
      const std::size_t view = whole_index(v.name);
      const Tensor t = model::named_view(block, v);
      std::vector<float> want;
      for (std::int64_t i = 0; i < t.numel(); ++i) want.push_back(reduced(view, i));
      CHECK(test::host_copy(t) == want);
    }
    double squares = 0.0;
    for (std::size_t view = 0; view < whole_views.size(); ++view) {
      std::int64_t elements = 1;
      for (const std::int64_t extent : whole_views[view].shape) elements *= extent;
      for (std::int64_t i = 0; i < elements; ++i) squares += double{reduced(view, i)} * reduced(view, i);
    }
    const double contributions = static_cast<double>(micro_batches * world.size());
    CHECK(got.contributions == contributions);
    CHECK(got.norm == doctest::Approx(std::sqrt(squares) / contributions).epsilon(1e-12));
  }
  world.barrier();
}
