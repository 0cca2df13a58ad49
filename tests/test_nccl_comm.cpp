// Tests for the NCCL group over device tensors: alone (one rank, with or without MPI) and under mpirun at 2 or more
// ranks, one GPU each, every collective against values each rank computes for itself (comm_checks.h), bf16
// included; host tensors refused; the routed group sending each tensor where it lives; a training step over the
// group of one rank. Skipped with one line without NCCL in the build, without a GPU, or with fewer GPUs on this host
// than ranks. On the emulator the same checks run against its stand-in, the host group over device memory
// (tests/emulator/device_comm.cpp).
#include <doctest/doctest.h>

#include <memory>
#include <utility>
#include <string>
#include <vector>

#include "engine/arena.h"
#include "engine/comm/process_groups.h"
#include "engine/comm/host_place.h"
#include "engine/comm/nccl_comm.h"
#include "engine/comm/routed_comm.h"
#include "engine/comm/world.h"
#include "engine/error.h"
#include "engine/training/optimizer_step.h"
#include "kernels/cuda/device_info.h"
#include "tests/comm_checks.h"
#include "model/transformer.h"
#include "tests/cuda_support.h"
#include "tests/model_support.h"

using namespace diverge;

namespace {

// The NCCL group of the world's ranks, each on its own GPU, made once; null where it cannot run, said in one line.
// Never destroyed: at exit NCCL's teardown would race the CUDA runtime's own.
Comm* nccl_world() {
  static Comm* group = []() -> Comm* {
    if (!nccl_built()) {
      const std::string why = "NCCL " + nccl_version() + ": skipped";
      MESSAGE(why);
      return nullptr;
    }
    if (!test::cuda_available()) return nullptr;  // it says why
    Comm& world = world_comm();
    const int ranks = host_place(world).ranks, devices = cuda::device_count();
    if (ranks > devices) {
      const std::string why = std::to_string(ranks) + " ranks on this host and " + std::to_string(devices) +
                              " GPUs, and NCCL needs a GPU per rank: skipped";
      MESSAGE(why);
      return nullptr;
    }
    use_local_gpu(world);
    return make_nccl_comm(world.split(0, world.rank())).release();
  }();
  return group;
}

}  // namespace

TEST_CASE("nccl comm: allreduce sums and maxima in f32, f64 and i32 over every rank") {
  if (Comm* group = nccl_world()) test::check_allreduce(*group, Device::cuda);
}

TEST_CASE("nccl comm: bf16 sums and maxima, exact on values bf16 holds") {
  Comm* group = nccl_world();
  if (group == nullptr) return;
  const int n = group->size(), r = group->rank();
  Arena arena = test::device_arena(1024);
  const Tensor sum = test::to_device_bf16(arena, {static_cast<float>(r), 0.5f, -2.0f}, {3});
  group->allreduce(sum, ReduceOp::sum);
  CHECK(test::bf16_to_host(sum) == std::vector<float>{static_cast<float>(n * (n - 1) / 2),
                                                      0.5f * static_cast<float>(n), -2.0f * static_cast<float>(n)});
  const Tensor max = test::to_device_bf16(arena, {static_cast<float>(-r), 0.25f * static_cast<float>(r)}, {2});
  group->allreduce(max, ReduceOp::max);
  CHECK(test::bf16_to_host(max) == std::vector<float>{0.0f, 0.25f * static_cast<float>(n - 1)});
}

TEST_CASE("nccl comm: reduce_scatter, allgather and broadcast place every rank's slice") {
  if (Comm* group = nccl_world()) test::check_scatter_gather_broadcast(*group, Device::cuda);
}

TEST_CASE("nccl comm: all_to_all_v delivers every row to its rank in place, zero counts included") {
  if (Comm* group = nccl_world()) test::check_all_to_all_v(*group, Device::cuda);
}

TEST_CASE("nccl comm: split makes an NCCL group per color, ordered by key") {
  if (Comm* group = nccl_world()) test::check_split(*group, Device::cuda);
}

TEST_CASE("nccl comm: a host tensor is an Error naming it") {
  Comm* group = nccl_world();
  if (group == nullptr) return;
  std::vector<float> host(4);
  const Tensor on_host = make_view(host.data(), DType::f32, Device::cpu, {4});
  CHECK_THROWS_WITH_AS(group->allreduce(on_host, ReduceOp::sum), doctest::Contains("f32 cpu (4)"), Error);
  CHECK_THROWS_WITH_AS(group->broadcast(on_host, 0), doctest::Contains("host memory"), Error);
  Arena arena = test::device_arena(1024);
  const Tensor on_device = test::to_device(arena, std::vector<float>(4), {4});
  CHECK_THROWS_WITH_AS(group->allgather(on_host, on_device), doctest::Contains("NCCL allgather"), Error);
  group->barrier();
}

TEST_CASE("nccl comm: the routed group reduces host tensors over the host group and device tensors over NCCL") {
  Comm* group = nccl_world();
  if (group == nullptr) return;
  Comm& world = world_comm();
  const std::unique_ptr<Comm> routed = make_routed_comm(world.split(0, world.rank()), group->split(0, group->rank()));
  const int n = routed->size(), r = routed->rank();
  CHECK(routed->describe().find("NCCL") != std::string::npos);
  std::vector<float> host{static_cast<float>(r + 1)};
  routed->allreduce(make_view(host.data(), DType::f32, Device::cpu, {1}), ReduceOp::sum);
  CHECK(host[0] == static_cast<float>(n * (n + 1) / 2));
  Arena arena = test::device_arena(1024);
  const Tensor device = test::to_device(arena, {static_cast<float>(2 * r)}, {1});
  routed->allreduce(device, ReduceOp::max);
  CHECK(test::to_host(device) == std::vector<float>{static_cast<float>(2 * (n - 1))});
  CHECK_THROWS_WITH_AS(routed->allgather(make_view(host.data(), DType::f32, Device::cpu, {1}), device),
                       doctest::Contains("one device"), Error);
  test::check_split(*routed, Device::cuda);
  routed->barrier();
}

TEST_CASE("nccl comm: a CUDA training step over the NCCL group of one rank is the single process's, bit for bit") {
  if (!nccl_built() || world_comm().size() != 1 || !test::cuda_available()) return;
  const config::ModelConfig m = test::cuda_model();
  constexpr std::int64_t kBatch = 2, kSeq = 6;
  test::TokenBatch tokens(kBatch, kSeq, m.vocab_size, 11);
  // One step, forward to update, with the gradients reduced over world's groups: on one rank every reduction is
  // the identity, so over NCCL (its collectives on the compute stream, in place) the step must change no bit.
  const auto step = [&](std::unique_ptr<Comm> world) {
    const ProcessGroups groups(std::move(world), 1);
    model::Transformer model(m, test::tiny_loss(0.01, 0.001), kBatch, kSeq, 7, Device::cuda);
    OptimizerStep optimizer(config::OptimConfig{}, model.layout().block_elements(), model.layout().decay_elements(),
                            Device::cuda);
    model.forward(tokens.tensor());
    model.backward();
    const ReducedGradients reduced =
        OptimizerStep::reduce_gradients(groups, model.layout().sharded_elements(), model.grads(), 1);
    optimizer.update(model.params(), model.grads(), reduced, 1e-2, 1);
    return std::pair{reduced.norm, test::to_host(model.params())};
  };
  const auto alone = step(make_single_process_comm());
  const auto over_nccl = step(make_routed_comm(make_single_process_comm(), make_nccl_comm(make_single_process_comm())));
  CHECK(over_nccl.first == alone.first);
  CHECK(over_nccl.second == alone.second);
}
