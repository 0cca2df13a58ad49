// The typed sections of a training config (model, data, optim, loss, edl, parallel, train, log): plain structs.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace diverge::config {

// Learning-rate schedules: warmup then cosine to min_lr, warmup-stable-decay (linear to min_lr over the last
// decay_steps), or warmup then constant.
enum class Schedule { kCosine, kWsd, kConstant };
// Where a batch statistic is taken: over this rank's micro-batch, or all-reduced over the data-parallel group.
enum class Scope { kMicroBatch, kGlobal };
enum class Device { kCpu, kCuda };
// What a step whose losses or gradient norm are NaN or infinite does: stop the run, or skip its update.
enum class NonFinitePolicy { kStop, kSkip };

// The JSON spelling of each enum value, indexed by the value: the config files and the resolved config use these.
template <class E>
struct EnumNames;
template <>
struct EnumNames<Schedule> {
  static constexpr std::array<std::string_view, 3> names{"cosine", "wsd", "constant"};
};
template <>
struct EnumNames<Scope> {
  static constexpr std::array<std::string_view, 2> names{"micro_batch", "global"};
};
template <>
struct EnumNames<Device> {
  static constexpr std::array<std::string_view, 2> names{"cpu", "cuda"};
};
template <>
struct EnumNames<NonFinitePolicy> {
  static constexpr std::array<std::string_view, 2> names{"stop", "skip"};
};

template <class E>
concept ConfigEnum = requires { EnumNames<E>::names; };

template <ConfigEnum E>
constexpr std::string_view enum_name(E value) {
  return EnumNames<E>::names[static_cast<std::size_t>(value)];
}

// Which MoE layers a layer-wise loss applies to: every one (JSON "all"), or the listed layer indices.
struct LayerSelection {
  std::vector<std::int64_t> indices;  // 0-based over all layers, ascending, distinct; empty = all MoE layers

  bool all() const { return indices.empty(); }
  // Whether the MoE layer with this index is selected.
  bool includes(std::int64_t moe_layer) const {
    return all() || std::binary_search(indices.begin(), indices.end(), moe_layer);
  }
  bool operator==(const LayerSelection&) const = default;
};

// The MoE transformer (DESIGN.md "Model family"). Layers [0, first_k_dense) are dense, the rest MoE.
struct ModelConfig {
  std::int64_t vocab_size = 0;            // token ids [0, vocab_size); 0 = the corpus manifest's tokenizer size
  std::int64_t d_model = 256;             // residual stream width, >= 1
  std::int64_t n_layers = 4;              // transformer blocks, >= 1
  std::int64_t n_heads = 4;               // query heads, >= 1
  std::int64_t n_kv_heads = 2;            // key/value heads (grouped-query attention), >= 1, divides n_heads
  std::int64_t head_dim = 0;              // width of one head, even (RoPE rotates pairs); 0 = d_model / n_heads
  bool qk_norm = true;                    // RMSNorm over head_dim on every query and key head (Qwen3)
  double rope_theta = 10000.0;            // RoPE base frequency, > 0
  double rms_eps = 1e-6;                  // epsilon inside every RMSNorm, > 0
  std::int64_t max_seq_len = 1024;        // longest sequence the model accepts (RoPE tables), >= data.seq_len
  std::int64_t n_experts = 8;             // routed experts per MoE layer (E), >= 1
  std::int64_t top_k = 2;                 // routed experts per token (k), in [1, n_experts]
  std::int64_t expert_hidden = 256;       // SwiGLU hidden width (d_ff) of one routed expert, >= 1
  std::int64_t n_shared_experts = 0;      // always-on experts per MoE layer, >= 0
  std::int64_t shared_expert_hidden = 0;  // SwiGLU hidden width of one shared expert; >= 1 when any is used
  std::int64_t first_k_dense = 0;         // leading dense layers, in [0, n_layers): at least one layer is MoE
  std::int64_t dense_hidden = 0;          // SwiGLU hidden width of the dense layers; >= 1 when first_k_dense > 0
  bool renorm_topk = true;                // divide the top-k gate weights by their sum (Qwen3-MoE norm_topk_prob)
  bool tied_embeddings = false;           // the LM head reuses the input embedding matrix
  double init_std = 0.02;                 // standard deviation of the normal weight initialisation, > 0

  // head_dim with its default resolved.
  std::int64_t resolved_head_dim() const { return head_dim != 0 ? head_dim : d_model / n_heads; }
  std::int64_t moe_layers() const { return n_layers - first_k_dense; }
  bool is_moe_layer(std::int64_t layer) const { return layer >= first_k_dense && layer < n_layers; }

  bool operator==(const ModelConfig&) const = default;
};

// What the model trains and validates on.
struct DataConfig {
  std::string corpus;                  // corpus manifest.json or its directory; "" = none (training needs one)
  std::int64_t seq_len = 512;          // tokens per training sequence (T), in [1, model.max_seq_len]
  std::int64_t micro_batch = 8;        // sequences per micro-batch and rank, >= 1
  std::int64_t grad_accum = 1;         // micro-batches accumulated per optimizer step, >= 1
  nlohmann::json weights;              // domain blend passed to the loader (data/loader/LOADER.md); null = by tokens
  std::int64_t val_every = 200;        // optimizer steps between validation passes, >= 0; 0 = never
  std::int64_t val_batches = 4;        // validation micro-batches per domain and pass, >= 1
  std::string val_label_system;        // label system the per-domain val loss is reported in; "" = the coarsest

  bool operator==(const DataConfig&) const = default;
};

// AdamW and the learning-rate schedule.
struct OptimConfig {
  double lr = 3e-4;                    // peak learning rate, >= 0
  double min_lr = 3e-5;                // learning rate at the end of the decay, in [0, lr]
  double weight_decay = 0.1;           // decoupled AdamW weight decay, >= 0
  double beta1 = 0.9;                  // first-moment decay, in [0, 1)
  double beta2 = 0.95;                 // second-moment decay, in [0, 1)
  double eps = 1e-8;                   // AdamW denominator epsilon, > 0
  double grad_clip = 1.0;              // global gradient-norm clip, >= 0; 0 = off
  Schedule schedule = Schedule::kCosine;
  std::int64_t warmup_steps = 100;     // linear warmup from 0 to lr, in [0, train.steps]
  std::int64_t decay_steps = 0;        // wsd only: length of the final decay to min_lr, >= 1 for wsd
  bool no_decay = true;                // norm weights and biases get no weight decay

  bool operator==(const OptimConfig&) const = default;
};

// Auxiliary router losses (EDL.md "Total loss").
struct LossConfig {
  double lb_coef = 1e-3;                 // alpha: weight of the Switch load-balance loss, >= 0
  double z_coef = 0.0;                   // weight of the router z-loss, >= 0
  Scope lb_scope = Scope::kMicroBatch;   // where the expert load fractions f_e are counted

  bool operator==(const LossConfig&) const = default;
};

// Expert Divergence Learning (EDL.md "Expert Divergence Loss"). beta = 0 turns it off.
struct EdlConfig {
  double beta = 0.0;                     // weight of L_EDL, >= 0
  double eps = 1e-6;                     // added to every pairwise JSD inside -log, > 0
  std::string labels = "coarse";         // label system naming the domains, or the controls "random" / "sequence"
  Scope scope = Scope::kMicroBatch;      // where the per-domain routing means r_j are taken
  LayerSelection layers;                 // MoE layers it applies to (L_EDL is their mean)
  std::uint64_t random_seed = 0;         // seed of the "random" relabelling control

  bool operator==(const EdlConfig&) const = default;
};

// How the ranks a launcher started divide the work (engine/comm/process_groups.h). Every rank is a data-parallel rank;
// ep consecutive ranks share each MoE layer's experts.
struct ParallelConfig {
  std::int64_t ep = 1;  // expert-parallel group size, >= 1; divides model.n_experts and the number of ranks
  // Rows a rank's experts may receive per MoE layer and pass, as a multiple of the rows its own tokens route
  // (micro_batch * seq_len * top_k), >= 0; 0 = ep, the most they can ever receive. A pass that brings more stops
  // with an error naming this key: rows are never dropped.
  double ep_capacity = 0.0;
  // ZeRO stage: 0 keeps AdamW's moments whole on every rank; 1 shards them over the ranks that reduce each
  // parameter's gradient (dp for the replicated parameters, edp for the experts), each rank updating its slice of
  // the parameters, which are then all-gathered.
  std::int64_t zero = 0;
  // For `diverge bench ep` only: every MoE layer routes token t's j-th copy to expert (t * top_k + j) mod
  // n_experts with gates 1 / top_k, whatever the router says, so every expert receives the same rows (Megatron's
  // force load balancing). `train` and `bench` refuse it: the model would learn nothing about routing.
  bool ep_force_balance = false;
  // Seconds a rank may wait in one collective for the others before it ends every rank, naming itself, the
  // collective and its group (engine/comm/collective_watchdog.h), >= 0; 0 = wait forever. Waits for rank 0's own
  // work (start, checkpoints, evaluations) do not count on the ranks that wait for it.
  double timeout_s = 600.0;

  bool operator==(const ParallelConfig&) const = default;
};

// The run: length, reproducibility, where it writes, checkpoints.
struct TrainConfig {
  std::int64_t steps = 1000;             // optimizer steps, >= 1
  std::uint64_t seed = 1234;             // parameter init and data order
  std::int64_t threads = 0;              // CPU threads, >= 0; 0 = all hardware threads
  std::string out_dir = "runs/diverge";  // run directory: resolved config, metrics, checkpoints; not ""
  std::int64_t checkpoint_every = 500;   // optimizer steps between checkpoints, >= 0; 0 = only at the end
  std::int64_t keep_checkpoints = 3;     // newest checkpoints kept, >= 0; 0 = keep all
  std::string resume;                    // checkpoint to resume from: a path, "auto" (newest in out_dir) or "" (none)
  Device device = Device::kCpu;
  // Tokens per chunk of the LM head's fp32 logits, >= 0; 0 = as many as 256 MiB hold. The backward recomputes every
  // chunk but the last, so one chunk for the whole micro-batch costs no extra FLOPs but (N, V) floats of memory.
  std::int64_t logit_chunk = 0;
  // A step with a NaN or infinite loss or gradient norm: "stop" exits (code 3) naming the step, the quantity and
  // the first gradient tensor that holds one; "skip" drops that step's update (data and schedule move on).
  NonFinitePolicy on_nonfinite = NonFinitePolicy::kStop;
  std::int64_t max_consecutive_skips = 10;  // with "skip": this many skipped steps in a row stop the run, >= 1

  bool operator==(const TrainConfig&) const = default;
};

// Progress lines and the metrics log.
struct LogConfig {
  std::int64_t every = 10;                   // optimizer steps between step lines and metrics records, >= 1
  std::string metrics_file = "metrics.jsonl";  // JSONL metrics; a relative path resolves against train.out_dir
  bool quiet = false;                        // no step lines on stdout (metrics are still written)

  bool operator==(const LogConfig&) const = default;
};

}  // namespace diverge::config
