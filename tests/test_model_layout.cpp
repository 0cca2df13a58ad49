// Tests for the parameter layout: Hugging Face names and shapes in MODEL.md order, tied vs untied embeddings,
// per-expert views of the stacked experts, placement in the block, parameter counts, and expert shards.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "engine/arena.h"
#include "engine/config/model_size.h"
#include "model/init.h"
#include "model/param_layout.h"
#include "tests/gradcheck.h"
#include "tests/model_support.h"

using namespace diverge;
using namespace diverge::test;

namespace {

// Sizes all distinct, so a swapped extent shows: V 13, C 8, H 2 x D 6 (H*D = 12 != C), Hkv 1, E 3, F 5, Fs 7, Fd 9.
config::ModelConfig layout_model(bool tied) {
  config::ModelConfig m;
  m.vocab_size = 13;
  m.d_model = 8;
  m.n_layers = 2;
  m.n_heads = 2;
  m.n_kv_heads = 1;
  m.head_dim = 6;
  m.qk_norm = true;
  m.max_seq_len = 16;
  m.n_experts = 3;
  m.top_k = 2;
  m.expert_hidden = 5;
  m.n_shared_experts = 1;
  m.shared_expert_hidden = 7;
  m.first_k_dense = 1;
  m.dense_hidden = 9;
  m.tied_embeddings = tied;
  return m;
}

using Shapes = std::vector<std::pair<std::string, std::vector<std::int64_t>>>;

// MODEL.md's parameter list for layout_model, written out by hand.
Shapes expected_state_dict(bool tied) {
  Shapes s = {{"model.embed_tokens.weight", {13, 8}}};
  for (int l = 0; l < 2; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    s.push_back({p + "input_layernorm.weight", {8}});
    s.push_back({p + "self_attn.q_proj.weight", {12, 8}});
    s.push_back({p + "self_attn.k_proj.weight", {6, 8}});
    s.push_back({p + "self_attn.v_proj.weight", {6, 8}});
    s.push_back({p + "self_attn.o_proj.weight", {8, 12}});
    s.push_back({p + "self_attn.q_norm.weight", {6}});
    s.push_back({p + "self_attn.k_norm.weight", {6}});
    s.push_back({p + "post_attention_layernorm.weight", {8}});
    if (l == 0) {
      s.push_back({p + "mlp.gate_proj.weight", {9, 8}});
      s.push_back({p + "mlp.up_proj.weight", {9, 8}});
      s.push_back({p + "mlp.down_proj.weight", {8, 9}});
      continue;
    }
    s.push_back({p + "mlp.gate.weight", {3, 8}});
    for (int e = 0; e < 3; ++e) {
      const std::string x = p + "mlp.experts." + std::to_string(e) + ".";
      s.push_back({x + "gate_proj.weight", {5, 8}});
      s.push_back({x + "up_proj.weight", {5, 8}});
      s.push_back({x + "down_proj.weight", {8, 5}});
    }
    s.push_back({p + "mlp.shared_experts.gate_proj.weight", {7, 8}});
    s.push_back({p + "mlp.shared_experts.up_proj.weight", {7, 8}});
    s.push_back({p + "mlp.shared_experts.down_proj.weight", {8, 7}});
  }
  s.push_back({"model.norm.weight", {8}});
  if (!tied) s.push_back({"lm_head.weight", {13, 8}});
  return s;
}

Shapes state_dict(const model::ParamLayout& layout) {
  Shapes s;
  for (const model::NamedView& v : layout.named_views()) s.push_back({v.name, v.shape});
  return s;
}

}  // namespace

TEST_CASE("parameter layout: names and shapes in MODEL.md order, untied and tied") {
  for (bool tied : {false, true}) {
    CAPTURE(tied);
    const model::ParamLayout layout(layout_model(tied));
    CHECK(state_dict(layout) == expected_state_dict(tied));
    CHECK(layout.has("lm_head.weight"));
    CHECK((layout.entry("lm_head.weight").name == "lm_head.weight") == !tied);
  }
  const model::ParamLayout layout(layout_model(false));
  const model::ParamEntry& stack = layout.entry("model.layers.1.mlp.experts.down_proj.weight");
  CHECK(stack.shape == std::vector<std::int64_t>{3, 8, 5});
  CHECK(contains(error_message([&] { layout.entry("model.layers.0.mlp.gate.weight"); }),
                 "no parameter 'model.layers.0.mlp.gate.weight'"));
}

TEST_CASE("parameter layout: entries are aligned, disjoint, decayed matrices before the norms") {
  const model::ParamLayout layout(layout_model(false));
  std::vector<model::ParamEntry> entries = layout.entries();
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.offset < b.offset; });
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const model::ParamEntry& e = entries[i];
    CAPTURE(e.name);
    CHECK(e.offset * 4 % static_cast<std::int64_t>(Arena::kAlignment) == 0);
    const std::int64_t end = i + 1 < entries.size() ? entries[i + 1].offset : layout.block_elements();
    CHECK(e.offset + e.numel <= end);
    const bool is_norm = e.name.find("norm") != std::string::npos;
    CHECK(e.decay == !is_norm);
    CHECK((e.offset < layout.decay_elements()) == !is_norm);
  }
}

TEST_CASE("parameter layout: per-expert views are slices of the stacks") {
  const model::ParamLayout layout(layout_model(false));
  std::vector<float> memory(static_cast<std::size_t>(layout.block_elements()), 0.0f);
  const Tensor block = make_view(memory.data(), DType::f32, Device::cpu, {layout.block_elements()});
  // Element [expert 2][row 4][column 7] of the gate stack is the last element of expert 2's gate_proj (5, 8).
  float* stack = model::entry_view(block, layout.entry("model.layers.1.mlp.experts.gate_proj.weight")).f32();
  stack[(2 * 5 + 4) * 8 + 7] = 42.0f;
  for (const model::NamedView& v : layout.named_views())
    if (v.name == "model.layers.1.mlp.experts.2.gate_proj.weight")
      CHECK(model::named_view(block, v).f32()[39] == 42.0f);
}

TEST_CASE("parameter layout: total and active counts agree with the config's model-size arithmetic") {
  for (bool tied : {false, true}) {
    const config::ModelConfig m = layout_model(tied);
    const model::ParamLayout layout(m);
    CHECK(layout.total_parameters() == config::total_parameters(m));
    CHECK(layout.active_parameters() == config::active_parameters(m));
    std::int64_t listed = 0;
    for (const model::NamedView& v : layout.named_views()) {
      std::int64_t n = 1;
      for (std::int64_t extent : v.shape) n *= extent;
      listed += n;
    }
    CHECK(listed == layout.total_parameters());
  }
}

TEST_CASE("parameter layout: an expert shard holds its experts under their global names, initialised alike") {
  config::ModelConfig m = layout_model(false);
  m.n_experts = 4;  // shards of 1, 2 and 4 experts
  const model::ParamLayout whole(m);
  std::vector<float> whole_memory(static_cast<std::size_t>(whole.block_elements()));
  const Tensor whole_block = make_view(whole_memory.data(), DType::f32, Device::cpu, {whole.block_elements()});
  model::init_parameters(whole, whole_block, 7, 0.02, m.n_layers);
  const std::vector<model::NamedView> whole_views = whole.named_views();
  const auto whole_view = [&](const std::string& name) {
    return host_copy(model::named_view(whole_block, whole_views[view_index(whole_views, name)]));
  };
  for (const std::int64_t count : {1, 2, 4})
    for (std::int64_t index = 0; index < count; ++index) {
      CAPTURE(count);
      CAPTURE(index);
      const model::ParamLayout shard(m, {.index = index, .count = count});
      CHECK(shard.total_parameters() == whole.total_parameters());
      CHECK(shard.active_parameters() == whole.active_parameters());
      std::vector<float> memory(static_cast<std::size_t>(shard.block_elements()));
      const Tensor block = make_view(memory.data(), DType::f32, Device::cpu, {shard.block_elements()});
      model::init_parameters(shard, block, 7, 0.02, m.n_layers);
      std::int64_t experts = 0;
      for (const model::NamedView& v : shard.named_views()) {
        CAPTURE(v.name);
        CHECK(host_copy(model::named_view(block, v)) == whole_view(v.name));
        const std::int64_t expert = expert_in_name(v.name);
        if (expert < 0) {
          CHECK(v.offset >= shard.sharded_elements());
          continue;
        }
        CHECK(expert / (4 / count) == index);
        CHECK(v.offset < shard.sharded_elements());
        ++experts;
      }
      CHECK(experts == 4 / count * 3 * (m.n_layers - m.first_k_dense));
    }
}
