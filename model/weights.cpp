// Binding of the parameter layout's entries, by name, to the typed per-block weight views.
#include "model/weights.h"

#include <string>

namespace diverge::model {

namespace {

// Views of one block by parameter name; names the layout lacks (optional parameters) give empty tensors.
class Binder {
 public:
  Binder(const ParamLayout& layout, const Tensor& block) : layout_(layout), block_(block) {}
  Tensor global(std::string_view name) const { return find(std::string(name)); }
  Tensor layer(std::int64_t l, std::string_view suffix) const { return find(names::layer(l, suffix)); }
  FfnWeights ffn(std::int64_t l, std::string_view gate, std::string_view up, std::string_view down) const {
    return {layer(l, gate), layer(l, up), layer(l, down)};
  }

 private:
  Tensor find(const std::string& name) const {
    return layout_.has(name) ? entry_view(block_, layout_.entry(name)) : Tensor{};
  }
  const ParamLayout& layout_;
  const Tensor& block_;
};

}  // namespace

ModelWeights bind_weights(const ParamLayout& layout, const Tensor& block, std::int64_t n_layers) {
  const Binder bind(layout, block);
  ModelWeights w;
  w.embed = bind.global(names::kEmbed);
  for (std::int64_t l = 0; l < n_layers; ++l) {
    LayerWeights& lw = w.layers.emplace_back();
    lw.attention = {bind.layer(l, names::kInputNorm), bind.layer(l, names::kQProj), bind.layer(l, names::kKProj),
                    bind.layer(l, names::kVProj),     bind.layer(l, names::kOProj), bind.layer(l, names::kQNorm),
                    bind.layer(l, names::kKNorm)};
    lw.post_norm = bind.layer(l, names::kPostNorm);
    lw.dense = bind.ffn(l, names::kDenseGate, names::kDenseUp, names::kDenseDown);
    lw.moe.router = bind.layer(l, names::kRouter);
    const FfnWeights stacks = bind.ffn(l, names::kExpertsGate, names::kExpertsUp, names::kExpertsDown);
    lw.moe.experts = {stacks.gate, stacks.up, stacks.down};
    lw.moe.shared = bind.ffn(l, names::kSharedGate, names::kSharedUp, names::kSharedDown);
  }
  w.final_norm = bind.global(names::kFinalNorm);
  w.lm_head = bind.global(names::kLmHead);
  return w;
}

}  // namespace diverge::model
