// Config::validate: the range rule of every key, then the rules that tie keys together.
#include <string>
#include <type_traits>

#include "engine/config/config.h"
#include "engine/config/json_value.h"
#include "engine/config/schema.h"
#include "engine/error.h"

namespace diverge::config {

namespace {

std::string str(std::int64_t v) { return std::to_string(v); }

// One rule of the config at one JSON path; every message reads "<where>: <path>: <rule>".
class Rules {
 public:
  explicit Rules(std::string_view where) : where_(where) {}

  void require(bool ok, std::string_view path, const std::string& rule) const {
    check(ok, where_, std::string(path) + ": " + rule);
  }

 private:
  std::string_view where_;  // the config's source, e.g. "config configs/tiny-cpu.json"
};

template <class T>
constexpr bool kRanged = std::is_arithmetic_v<T> && !std::is_same_v<T, bool>;

void check_ranges(const Config& c, const Rules& rules) {
  visit_sections(c, [&](std::string_view section, const auto& fields) {
    visit_fields(fields, [&](std::string_view key, const auto& member, Range range = {}) {
      if constexpr (kRanged<std::remove_cvref_t<decltype(member)>>) {
        rules.require(range.contains(static_cast<double>(member)), std::string(section) + "." + std::string(key),
                      range.describe() + " (got " + write_value(member).dump() + ")");
      }
    });
  });
}

void check_attention(const ModelConfig& m, const Rules& rules) {
  rules.require(m.n_heads % m.n_kv_heads == 0, "model.n_kv_heads",
                "must divide model.n_heads (" + str(m.n_heads) + " heads, " + str(m.n_kv_heads) + " kv heads)");
  if (m.head_dim == 0)
    rules.require(m.d_model % m.n_heads == 0, "model.head_dim",
                  "is 0 (d_model / n_heads) but model.d_model " + str(m.d_model) + " is not a multiple of " +
                      "model.n_heads " + str(m.n_heads) + ": set head_dim or change them");
  rules.require(m.resolved_head_dim() % 2 == 0, "model.head_dim",
                "must be even: rotary embeddings rotate pairs of dimensions (head_dim " +
                    str(m.resolved_head_dim()) + ")");
}

void check_experts(const ModelConfig& m, const Rules& rules) {
  rules.require(m.top_k <= m.n_experts, "model.top_k",
                "must be <= model.n_experts (" + str(m.top_k) + " > " + str(m.n_experts) + ")");
  rules.require(m.first_k_dense < m.n_layers, "model.first_k_dense",
                "must be < model.n_layers so that at least one layer is MoE (" + str(m.first_k_dense) +
                    " dense of " + str(m.n_layers) + " layers)");
  if (m.first_k_dense > 0)
    rules.require(m.dense_hidden >= 1, "model.dense_hidden", "must be >= 1 when model.first_k_dense > 0");
  if (m.n_shared_experts > 0)
    rules.require(m.shared_expert_hidden >= 1, "model.shared_expert_hidden",
                  "must be >= 1 when model.n_shared_experts > 0");
}

void check_parallel(const Config& c, const Rules& rules) {
  rules.require(c.model.n_experts % c.parallel.ep == 0, "parallel.ep",
                "must divide model.n_experts: each expert-parallel rank holds as many experts (" +
                    str(c.model.n_experts) + " experts, ep " + str(c.parallel.ep) + ")");
}

void check_data(const Config& c, const Rules& rules) {
  rules.require(c.data.seq_len <= c.model.max_seq_len, "data.seq_len",
                "must be <= model.max_seq_len (" + str(c.data.seq_len) + " > " + str(c.model.max_seq_len) + ")");
  rules.require(c.data.weights.is_null() || c.data.weights.is_object(), "data.weights",
                "must be null or an object");
}

void check_schedule(const Config& c, const Rules& rules) {
  const auto& o = c.optim;
  rules.require(o.min_lr <= o.lr, "optim.min_lr", "must be <= optim.lr");
  rules.require(o.warmup_steps <= c.train.steps, "optim.warmup_steps",
                "must be <= train.steps (" + str(o.warmup_steps) + " > " + str(c.train.steps) + ")");
  if (o.schedule == Schedule::kWsd) {
    rules.require(o.decay_steps >= 1, "optim.decay_steps", "must be >= 1 for schedule 'wsd'");
    rules.require(o.warmup_steps + o.decay_steps <= c.train.steps, "optim.decay_steps",
                  "optim.warmup_steps + optim.decay_steps must be <= train.steps (" + str(o.warmup_steps) + " + " +
                      str(o.decay_steps) + " > " + str(c.train.steps) + ")");
  }
}

void check_edl(const Config& c, const Rules& rules) {
  rules.require(!c.edl.labels.empty(), "edl.labels", "must name a label system, \"random\" or \"sequence\"");
  const auto& layers = c.edl.layers.indices;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const std::string path = "edl.layers[" + std::to_string(i) + "]";
    rules.require(c.model.is_moe_layer(layers[i]), path,
                  "layer " + str(layers[i]) + " is not a MoE layer (MoE layers are " + str(c.model.first_k_dense) +
                      ".." + str(c.model.n_layers - 1) + ")");
    rules.require(i == 0 || layers[i - 1] < layers[i], path, "layers must be listed in ascending order, once each");
  }
}

void check_paths(const Config& c, const Rules& rules) {
  rules.require(!c.train.out_dir.empty(), "train.out_dir", "must not be empty");
  rules.require(!c.log.metrics_file.empty(), "log.metrics_file", "must not be empty");
}

}  // namespace

void Config::validate(std::string_view where) const {
  const Rules rules(where);
  check_ranges(*this, rules);
  check_attention(model, rules);
  check_experts(model, rules);
  check_data(*this, rules);
  check_schedule(*this, rules);
  check_edl(*this, rules);
  check_parallel(*this, rules);
  check_paths(*this, rules);
}

}  // namespace diverge::config
