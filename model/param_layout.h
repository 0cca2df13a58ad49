// The model's parameters: HF names, shapes, weight decay and init rule, and their places in one flat block.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/config/sections.h"
#include "engine/tensor.h"

namespace diverge::model {

struct Dims;

// How a parameter is initialised (MODEL.md): Normal(0, init_std); residual output projections (o_proj, every
// down_proj) Normal(0, init_std / sqrt(2 L)); norm weights 1.
enum class InitRule : std::uint8_t { normal, residual_normal, ones };

// One stored parameter. The routed experts of a layer are one stacked entry per projection, named without an expert
// index ("model.layers.3.mlp.experts.gate_proj.weight", (E, F, C)); named_views() splits them per expert.
struct ParamEntry {
  std::string name;
  std::vector<std::int64_t> shape;
  std::int64_t offset = 0;  // elements from the start of the block
  std::int64_t numel = 0;
  bool decay = true;  // takes AdamW weight decay (matrices); norms do not
  InitRule init = InitRule::normal;
  // An expert stack holds one shard of its layer's experts (ExpertShard): this is its first element's index in the
  // whole stack (initialisation counts from it). 0 for every other entry.
  std::int64_t first_element = 0;
  bool expert_sharded = false;  // a routed experts' stack: its gradients reduce over the ranks holding these experts
  std::int64_t layer = -1;      // the decoder layer it belongs to; -1 for the embedding, final norm and lm_head
};

// The experts of every MoE layer this rank holds under expert parallelism (parallel.ep): shard `index` of `count`,
// the global experts [index * E / count, (index + 1) * E / count). One shard of one: every expert.
struct ExpertShard {
  std::int64_t index = 0;
  std::int64_t count = 1;
};

// A tensor of the Hugging Face state dict: where it lies in the block. Per-expert tensors are slices of the stacks.
struct NamedView {
  std::string name;
  std::vector<std::int64_t> shape;
  std::int64_t offset = 0;
  bool expert_sharded = false;  // one routed expert's tensor: held by the ranks of its expert shard only
};

// Suffixes of the per-layer parameter names ("model.layers.<l>." + suffix) and the global names.
namespace names {
inline constexpr std::string_view kEmbed = "model.embed_tokens.weight";
inline constexpr std::string_view kFinalNorm = "model.norm.weight";
inline constexpr std::string_view kLmHead = "lm_head.weight";
inline constexpr std::string_view kInputNorm = "input_layernorm.weight";
inline constexpr std::string_view kQProj = "self_attn.q_proj.weight";
inline constexpr std::string_view kKProj = "self_attn.k_proj.weight";
inline constexpr std::string_view kVProj = "self_attn.v_proj.weight";
inline constexpr std::string_view kOProj = "self_attn.o_proj.weight";
inline constexpr std::string_view kQNorm = "self_attn.q_norm.weight";
inline constexpr std::string_view kKNorm = "self_attn.k_norm.weight";
inline constexpr std::string_view kPostNorm = "post_attention_layernorm.weight";
inline constexpr std::string_view kDenseGate = "mlp.gate_proj.weight";
inline constexpr std::string_view kDenseUp = "mlp.up_proj.weight";
inline constexpr std::string_view kDenseDown = "mlp.down_proj.weight";
inline constexpr std::string_view kRouter = "mlp.gate.weight";
inline constexpr std::string_view kExpertsGate = "mlp.experts.gate_proj.weight";
inline constexpr std::string_view kExpertsUp = "mlp.experts.up_proj.weight";
inline constexpr std::string_view kExpertsDown = "mlp.experts.down_proj.weight";
inline constexpr std::string_view kSharedGate = "mlp.shared_experts.gate_proj.weight";
inline constexpr std::string_view kSharedUp = "mlp.shared_experts.up_proj.weight";
inline constexpr std::string_view kSharedDown = "mlp.shared_experts.down_proj.weight";

// "model.layers.<layer>.<suffix>"
std::string layer(std::int64_t layer, std::string_view suffix);
}  // namespace names

class ParamLayout {
 public:
  // Entries in MODEL.md order, each expert stack holding the shard's experts. Storage puts the expert stacks first,
  // then the other decayed parameters, then the norms, so that the expert-sharded gradients and AdamW's decayed
  // and undecayed parameters are flat slices; each entry starts on a 256-byte boundary (the arena alignment) and
  // padding stays zero.
  explicit ParamLayout(const config::ModelConfig& config, const ExpertShard& shard = {});

  const std::vector<ParamEntry>& entries() const { return entries_; }
  // The entry of that name; throws Error naming it when the model has no such parameter. With tied embeddings
  // "lm_head.weight" resolves to the embedding.
  const ParamEntry& entry(std::string_view name) const;
  bool has(std::string_view name) const;
  // The Hugging Face state dict in MODEL.md order: experts one by one (this shard's, under their global indices),
  // no lm_head when tied.
  std::vector<NamedView> named_views() const;

  std::int64_t block_elements() const { return block_elements_; }  // (P): size of the parameter/gradient block
  std::int64_t decay_elements() const { return decay_elements_; }  // [0, decay) decays, [decay, P) does not
  // [0, sharded) holds the expert stacks (this shard's experts), [sharded, P) the parameters every rank holds.
  std::int64_t sharded_elements() const { return sharded_elements_; }
  std::int64_t total_parameters() const { return total_parameters_; }  // of the whole model, every expert
  // Parameters one token meets: all but the routed experts it is not sent to (top_k of n_experts per layer).
  std::int64_t active_parameters() const { return active_parameters_; }

 private:
  void add_layer(const Dims& d, bool qk_norm, std::int64_t layer);
  ParamEntry& add(std::string name, std::vector<std::int64_t> shape, InitRule init);
  void add_expert_stack(std::string name, std::vector<std::int64_t> expert, InitRule init, std::int64_t experts);
  void place_entries();

  std::vector<ParamEntry> entries_;
  std::int64_t experts_ = 0;       // per stack: this shard's
  std::int64_t first_expert_ = 0;  // the global index of the shard's first expert
  bool tied_ = false;
  std::int64_t block_elements_ = 0;
  std::int64_t decay_elements_ = 0;
  std::int64_t sharded_elements_ = 0;
  std::int64_t total_parameters_ = 0;
  std::int64_t active_parameters_ = 0;
};

// The tensor of entry inside block (P) (a parameter or a gradient block): a view with the entry's shape.
Tensor entry_view(const Tensor& block, const ParamEntry& entry);
// The same for a checkpoint view.
Tensor named_view(const Tensor& block, const NamedView& view);

}  // namespace diverge::model
