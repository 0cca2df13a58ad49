// Preflight: open the corpus against the config, build the data pipeline once, plan the memory, and report.
#include "engine/training/run_preflight.h"

#include <algorithm>
#include <filesystem>
#include <string>

#include "engine/buffers.h"
#include "engine/comm/collective_watchdog.h"
#include "engine/comm/nccl_comm.h"
#include "engine/comm/routed_comm.h"
#include "engine/comm/world.h"
#include "engine/error.h"
#include "engine/host_memory.h"
#include "engine/progress.h"
#include "engine/training/evaluator.h"
#include "engine/training/metrics.h"
#include "engine/training/optimizer_step.h"
#include "kernels/cuda/device_info.h"
#include "kernels/ops.h"
#include "model/edl_term.h"
#include "model/param_layout.h"
#include "model/step_buffers.h"

namespace diverge {
namespace {

// M of the labels EDL groups sequences by: a corpus label system's label count; for the random control the coarsest
// system's, so the control has as many groups as the real domains; unused for per-sequence labels.
std::int64_t edl_label_count(const config::EdlConfig& edl, const TrainingData& data) {
  if (edl.labels == model::kSequenceLabels) return 0;
  if (edl.labels == model::kRandomLabels)
    return static_cast<std::int64_t>(data.corpus.labels_of(data.val_label_system).size());
  check(data.corpus.has_label_system(edl.labels), "edl.labels",
        "the corpus has no label system '" + edl.labels + "' (it has: " +
            data::comma_list(data.corpus.label_systems()) + "; or use random / sequence)");
  return static_cast<std::int64_t>(data.corpus.labels_of(edl.labels).size());
}

// The bytes of an arena holding one parameter block (P), as model::Transformer allocates it: f32 for the masters
// and the gradients, the activation dtype for the working copy the passes read where that is not f32.
std::size_t block_bytes(std::int64_t elements, DType dtype, Device device) {
  return planned_bytes(device, [&](Buffers& buffers) { return buffers.take(dtype, {elements}); });
}

std::size_t total_bytes(const MemoryPlan& plan) {
  return plan.params + plan.grads + plan.optimizer + plan.activations;
}

bool corpus_exists(const config::Config& config) {
  std::error_code ec;
  return !config.data.corpus.empty() && std::filesystem::exists(config.data.corpus, ec);
}

std::string describe_corpus(const RunInputs& inputs) {
  std::string systems;
  for (const auto& system : inputs.data.corpus.label_systems())
    systems += (systems.empty() ? "" : ", ") + system + " (" +
               std::to_string(inputs.data.corpus.labels_of(system).size()) + " labels)";
  return "corpus " + inputs.data.manifest.file.string() + ": vocabulary " +
         format_thousands(static_cast<double>(inputs.data.manifest.tokenizer.vocab_size)) + ", label systems " +
         systems + "; data.weights, data.val_label_system '" + inputs.data.val_label_system + "' and edl.labels '" +
         inputs.config.edl.labels + "' fit it; train and validation shards open";
}

}  // namespace

Device run_device(const config::Config& config) {
  return config.train.device == config::Device::kCuda ? Device::cuda : Device::cpu;
}

model::Masters run_masters(const config::Config& config) {
  return config.parallel.zero == 1 && run_device(config) == Device::cuda ? model::Masters::with_optimizer
                                                                          : model::Masters::in_model;
}

void check_supported(const config::Config& config) {
  // describe_backend() probes the device, which makes a CUDA context on device 0: only once the run is refused, so
  // that each rank of a run on several GPUs makes its first context on its own device (make_device_world).
  if (run_device(config) == Device::cuda && cuda::device_count() == 0)
    throw Error("train.device", "'cuda' needs a CUDA device (" + cuda::describe_backend() + "); set train.device=cpu");
  check(!config.parallel.ep_force_balance, "parallel.ep_force_balance",
        "forced-balance routing is for `diverge bench ep` only: it replaces the router's choice by a fixed "
        "assignment, so a model trained under it would learn no routing; set parallel.ep_force_balance=false");
}

void check_world_supported(const config::Config& config, const Comm& world) {
  check(world.size() == 1 || run_device(config) == Device::cpu || nccl_built(), "train.device",
        "'cuda' on " + std::to_string(world.size()) + " ranks needs NCCL, and this diverge was built without it "
        "(configure with -DDIVERGE_NCCL=ON: the nvcc build with nccl.h); train on cpu or on one rank");
}

ProcessGroups open_process_groups(const config::Config& config) {
  Comm& world = world_comm();
  check_world_supported(config, world);
  if (world.size() > 1) watch_collectives(config.parallel.timeout_s, "parallel.timeout_s");
  if (run_device(config) == Device::cpu) return ProcessGroups(world, config.parallel.ep);
  return ProcessGroups(make_device_world(world), config.parallel.ep);
}

RunInputs open_run_inputs(const config::Config& config) {
  check_supported(config);
  RunInputs inputs{.data = open_training_data(config), .config = config};
  resolve_vocab_size(inputs.config.model, inputs.data.manifest);
  inputs.config.validate("config");
  inputs.edl_label_count = edl_label_count(inputs.config.edl, inputs.data);
  inputs.metric_label_count =
      static_cast<std::int64_t>(inputs.data.corpus.labels_of(inputs.data.val_label_system).size());
  return inputs;
}

data::LoaderConfig loader_config(const config::Config& config, const Comm& comm) {
  return {.batch_size = config.data.micro_batch,
          .seq_len = config.data.seq_len,
          .seed = config.train.seed,
          .rank = comm.rank(),
          .world = comm.size(),
          .weights = config.data.weights};
}

// This rank's share of the model under expert parallelism: its parameters hold 1/ep of every MoE layer's experts,
// its activations the rows its experts receive.
MemoryPlan plan_memory(const config::Config& config, std::int64_t ranks) {
  const model::ExpertParallel ep{config.parallel.ep, config.parallel.ep_capacity};
  const model::ParamLayout layout(config.model, {.index = 0, .count = ep.size});
  const std::int64_t elements = layout.block_elements();
  const ShardingSizes zero{.expert_holders = std::max<std::int64_t>(1, ranks / ep.size),
                           .replicas = ranks,
                           .sharded_elements = layout.sharded_elements()};
  const Device device = run_device(config);
  const std::size_t block = block_bytes(elements, DType::f32, device);
  const DType working = ops::activation_dtype(device);
  const bool sharded_masters = run_masters(config) == model::Masters::with_optimizer;
  return {.device = device,
          .params = (sharded_masters ? 0 : block) + (working == DType::f32 ? 0 : block_bytes(elements, working, device)),
          .grads = block,
          .optimizer = optimizer_bytes(config.parallel.zero == 1 ? moment_elements(elements, zero) : elements, device,
                                       sharded_masters),
          .activations = model::activation_bytes(config.model, config.data.micro_batch, config.data.seq_len, device,
                                                  config.train.logit_chunk, ep)};
}

std::size_t memory_limit(const MemoryPlan& plan) {
  return plan.device == Device::cpu ? host_memory_limit() : cuda::free_memory();
}

MemoryPlan checked_memory_plan(const config::Config& config, std::int64_t ranks) {
  MemoryPlan plan = plan_memory(config, ranks);
  check_memory_plan(plan, memory_limit(plan), config);
  return plan;
}

void check_memory_plan(const MemoryPlan& plan, std::size_t limit, const config::Config& config) {
  const std::size_t total = total_bytes(plan);
  std::string knobs = "lower data.micro_batch or data.seq_len (activations)";
  if (config.parallel.ep > 1)
    knobs += ", or parallel.ep_capacity (the rows the expert exchange plans for; 0 plans for the most possible)";
  if (config.parallel.zero == 0) knobs += ", set parallel.zero=1 to shard the optimizer over several ranks";
  knobs += ", or shrink the model";
  check(total <= limit, "memory plan",
        format_bytes(static_cast<double>(total)) + " planned (params " + format_bytes(static_cast<double>(plan.params)) +
            ", grads " + format_bytes(static_cast<double>(plan.grads)) + ", optimizer " +
            format_bytes(static_cast<double>(plan.optimizer)) + ", activations " +
            format_bytes(static_cast<double>(plan.activations)) + ") exceeds the " +
            format_bytes(static_cast<double>(limit)) +
            (plan.device == Device::cpu ? " this process may use" : " free on the GPU") + "; " + knobs);
}

PreflightReport preflight(const config::Config& config, std::int64_t ranks) {
  PreflightReport report;
  report.config = config;
  report.memory_limit = 0;
  report.ranks = std::max<std::int64_t>(ranks, 1);
  check(ranks == 0 || ranks % config.parallel.ep == 0, "parallel.ep",
        std::to_string(config.parallel.ep) + " does not divide the " + std::to_string(ranks) + " ranks planned for");
  report.checked.push_back("config rules");
  check_supported(config);
  report.checked.push_back("supported by this build (train.device, parallel.ep)");
  if (corpus_exists(config)) {
    RunInputs inputs = open_run_inputs(config);
    auto comm = make_single_process_comm();
    [[maybe_unused]] const data::TrainLoader loader(inputs.data.corpus, loader_config(inputs.config, *comm));
    if (inputs.config.data.val_every > 0) {
      [[maybe_unused]] const Evaluator validation(inputs.data.corpus, inputs.data.val_label_system,
                                                  inputs.config.data.micro_batch, inputs.config.data.seq_len,
                                                  inputs.config.data.val_batches);
    }
    report.checked.push_back(describe_corpus(inputs));
    report.config = std::move(inputs.config);
  } else {
    report.not_checked.push_back(
        "data.corpus '" + config.data.corpus + "' does not exist, so the vocabulary, the label systems " +
        "(data.weights, data.val_label_system, edl.labels) and the validation shards were not checked");
  }
  if (report.config.model.vocab_size > 0) {
    report.memory = plan_memory(report.config, report.ranks);
    report.memory_limit = memory_limit(*report.memory);
    check_memory_plan(*report.memory, report.memory_limit, report.config);
    report.checked.push_back("memory plan: " + format_bytes(static_cast<double>(total_bytes(*report.memory))) +
                             " of the " + format_bytes(static_cast<double>(report.memory_limit)) +
                             " this process may use");
  } else {
    report.not_checked.push_back("the memory plan: model.vocab_size comes from the corpus");
  }
  return report;
}

}  // namespace diverge
