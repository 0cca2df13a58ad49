// Parameter layout: the MODEL.md parameter list built from the config, placed in one flat block.
#include "model/param_layout.h"

#include <string>
#include <utility>

#include "engine/arena.h"
#include "engine/error.h"
#include "model/dims.h"

namespace diverge::model {

namespace names {
std::string layer(std::int64_t layer_index, std::string_view suffix) {
  return "model.layers." + std::to_string(layer_index) + "." + std::string(suffix);
}
}  // namespace names

namespace {

constexpr std::int64_t kAlignElements = static_cast<std::int64_t>(Arena::kAlignment / sizeof(float));

std::int64_t align_elements(std::int64_t n) { return (n + kAlignElements - 1) / kAlignElements * kAlignElements; }

std::int64_t product(const std::vector<std::int64_t>& shape) {
  std::int64_t n = 1;
  for (std::int64_t extent : shape) n *= extent;
  return n;
}

Tensor view_at(const Tensor& block, std::int64_t offset, const std::vector<std::int64_t>& shape) {
  check((block.dtype == DType::f32 || block.dtype == DType::bf16) && block.ndim == 1, "parameter block",
        "expected a flat f32 or bf16 block, got " + block.describe());
  check(offset + product(shape) <= block.numel(), "parameter block",
        "block " + block.describe() + " is too small for the parameter layout");
  check(shape.size() <= static_cast<std::size_t>(Tensor::kMaxDims), "parameter block", "parameter of rank > 4");
  Tensor t = block;
  t.data = static_cast<char*>(block.data) + static_cast<std::size_t>(offset) * dtype_bytes(block.dtype);
  t.ndim = static_cast<int>(shape.size());
  t.shape = {};
  for (std::size_t i = 0; i < shape.size(); ++i) t.shape[i] = shape[i];
  return t;
}

constexpr std::string_view kExpertsInfix = ".mlp.experts.";

// Expert x's slice of a stacked (E, F, C) / (E, C, F) entry, under its HF name: the global index first + x.
NamedView expert_view(const ParamEntry& stack, std::int64_t first, std::int64_t x) {
  const std::size_t split = stack.name.find(kExpertsInfix) + kExpertsInfix.size();
  const std::int64_t per_expert = stack.shape[1] * stack.shape[2];
  return {stack.name.substr(0, split) + std::to_string(first + x) + "." + stack.name.substr(split),
          {stack.shape[1], stack.shape[2]},
          stack.offset + x * per_expert,
          true};
}

}  // namespace

ParamLayout::ParamLayout(const config::ModelConfig& config, const ExpertShard& shard) {
  const Dims d = make_dims(config, 1, 1, {.size = shard.count});
  check(shard.index >= 0 && shard.index < shard.count, "parameter layout",
        "expert shard " + std::to_string(shard.index) + " of " + std::to_string(shard.count));
  experts_ = d.local_experts;
  first_expert_ = shard.index * d.local_experts;
  tied_ = config.tied_embeddings;
  add(std::string(names::kEmbed), {d.vocab, d.model}, InitRule::normal);
  for (std::int64_t l = 0; l < d.layers; ++l) {
    const std::size_t first = entries_.size();
    add_layer(d, config.qk_norm, l);
    for (std::size_t i = first; i < entries_.size(); ++i) entries_[i].layer = l;
  }
  add(std::string(names::kFinalNorm), {d.model}, InitRule::ones);
  if (!tied_) add(std::string(names::kLmHead), {d.vocab, d.model}, InitRule::normal);
  place_entries();

  const std::int64_t idle_experts_per_layer = (d.experts - d.top_k) * 3 * d.expert_hidden * d.model;
  active_parameters_ = total_parameters_ - d.moe_layers() * idle_experts_per_layer;
}

void ParamLayout::add_layer(const Dims& d, bool qk_norm, std::int64_t l) {
  const std::int64_t C = d.model, HD = d.heads * d.head_dim, KD = d.kv_heads * d.head_dim;
  const std::int64_t E = d.experts, F = d.expert_hidden;
  add(names::layer(l, names::kInputNorm), {C}, InitRule::ones);
  add(names::layer(l, names::kQProj), {HD, C}, InitRule::normal);
  add(names::layer(l, names::kKProj), {KD, C}, InitRule::normal);
  add(names::layer(l, names::kVProj), {KD, C}, InitRule::normal);
  add(names::layer(l, names::kOProj), {C, HD}, InitRule::residual_normal);
  if (qk_norm) {
    add(names::layer(l, names::kQNorm), {d.head_dim}, InitRule::ones);
    add(names::layer(l, names::kKNorm), {d.head_dim}, InitRule::ones);
  }
  add(names::layer(l, names::kPostNorm), {C}, InitRule::ones);
  if (!d.is_moe(l)) {
    add(names::layer(l, names::kDenseGate), {d.dense_hidden, C}, InitRule::normal);
    add(names::layer(l, names::kDenseUp), {d.dense_hidden, C}, InitRule::normal);
    add(names::layer(l, names::kDenseDown), {C, d.dense_hidden}, InitRule::residual_normal);
    return;
  }
  add(names::layer(l, names::kRouter), {E, C}, InitRule::normal);
  add_expert_stack(names::layer(l, names::kExpertsGate), {F, C}, InitRule::normal, E);
  add_expert_stack(names::layer(l, names::kExpertsUp), {F, C}, InitRule::normal, E);
  add_expert_stack(names::layer(l, names::kExpertsDown), {C, F}, InitRule::residual_normal, E);
  if (d.shared_hidden > 0) {
    add(names::layer(l, names::kSharedGate), {d.shared_hidden, C}, InitRule::normal);
    add(names::layer(l, names::kSharedUp), {d.shared_hidden, C}, InitRule::normal);
    add(names::layer(l, names::kSharedDown), {C, d.shared_hidden}, InitRule::residual_normal);
  }
}

ParamEntry& ParamLayout::add(std::string name, std::vector<std::int64_t> shape, InitRule init) {
  ParamEntry e;
  e.name = std::move(name);
  e.numel = product(shape);
  e.shape = std::move(shape);
  e.init = init;
  e.decay = init != InitRule::ones;
  total_parameters_ += e.numel;
  return entries_.emplace_back(std::move(e));
}

// A stack of this shard's experts, each of shape expert; the whole model counts all `experts` of the layer.
void ParamLayout::add_expert_stack(std::string name, std::vector<std::int64_t> expert, InitRule init,
                                   std::int64_t experts) {
  const std::int64_t per_expert = product(expert);
  expert.insert(expert.begin(), experts_);
  ParamEntry& e = add(std::move(name), std::move(expert), init);
  e.first_element = first_expert_ * per_expert;
  e.expert_sharded = true;
  total_parameters_ += (experts - experts_) * per_expert;
}

void ParamLayout::place_entries() {
  std::int64_t next = 0;
  const auto place = [&](auto&& belongs) {
    for (ParamEntry& e : entries_) {
      if (!belongs(e)) continue;
      e.offset = next;
      next += align_elements(e.numel);
    }
  };
  place([](const ParamEntry& e) { return e.expert_sharded; });
  sharded_elements_ = next;
  place([](const ParamEntry& e) { return e.decay && !e.expert_sharded; });
  decay_elements_ = next;
  place([](const ParamEntry& e) { return !e.decay; });
  block_elements_ = next;
}

bool ParamLayout::has(std::string_view name) const {
  if (tied_ && name == names::kLmHead) return true;
  for (const ParamEntry& e : entries_)
    if (e.name == name) return true;
  return false;
}

const ParamEntry& ParamLayout::entry(std::string_view name) const {
  const std::string_view wanted = tied_ && name == names::kLmHead ? names::kEmbed : name;
  for (const ParamEntry& e : entries_)
    if (e.name == wanted) return e;
  throw Error("parameter layout", "the model has no parameter '" + std::string(name) + "'");
}

std::vector<NamedView> ParamLayout::named_views() const {
  std::vector<NamedView> views;
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    if (entries_[i].name.find(kExpertsInfix) == std::string::npos) {
      views.push_back({entries_[i].name, entries_[i].shape, entries_[i].offset});
      continue;
    }
    // A layer's three stacks are consecutive (gate, up, down); the HF state dict lists them expert by expert.
    for (std::int64_t x = 0; x < experts_; ++x)
      for (std::size_t projection = 0; projection < 3; ++projection)
        views.push_back(expert_view(entries_[i + projection], first_expert_, x));
    i += 2;
  }
  return views;
}

Tensor entry_view(const Tensor& block, const ParamEntry& entry) { return view_at(block, entry.offset, entry.shape); }

Tensor named_view(const Tensor& block, const NamedView& view) { return view_at(block, view.offset, view.shape); }

}  // namespace diverge::model
