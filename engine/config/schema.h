// The one table of config keys: every section's fields with their JSON names and range rules.
#pragma once

#include <concepts>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "engine/config/config.h"
#include "engine/config/range.h"

namespace diverge::config {

// Parsing, writing, --set path checks and range validation all walk these tables, so that a new key is one line
// here beside its struct member. A visitor is called as field(json_key, member) or field(json_key, member, range);
// the section argument may be const (writing, validating) or not (parsing).
template <class S, class T>
concept SectionOf = std::same_as<std::remove_const_t<S>, T>;

template <SectionOf<ModelConfig> S, class Field>
void visit_fields(S& s, Field&& field) {
  field("vocab_size", s.vocab_size, at_least(0));
  field("d_model", s.d_model, at_least(1));
  field("n_layers", s.n_layers, at_least(1));
  field("n_heads", s.n_heads, at_least(1));
  field("n_kv_heads", s.n_kv_heads, at_least(1));
  field("head_dim", s.head_dim, at_least(0));
  field("qk_norm", s.qk_norm);
  field("rope_theta", s.rope_theta, greater_than(0));
  field("rms_eps", s.rms_eps, greater_than(0));
  field("max_seq_len", s.max_seq_len, at_least(1));
  field("n_experts", s.n_experts, at_least(1));
  field("top_k", s.top_k, at_least(1));
  field("expert_hidden", s.expert_hidden, at_least(1));
  field("n_shared_experts", s.n_shared_experts, at_least(0));
  field("shared_expert_hidden", s.shared_expert_hidden, at_least(0));
  field("first_k_dense", s.first_k_dense, at_least(0));
  field("dense_hidden", s.dense_hidden, at_least(0));
  field("renorm_topk", s.renorm_topk);
  field("tied_embeddings", s.tied_embeddings);
  field("init_std", s.init_std, greater_than(0));
}

template <SectionOf<DataConfig> S, class Field>
void visit_fields(S& s, Field&& field) {
  field("corpus", s.corpus);
  field("seq_len", s.seq_len, at_least(1));
  field("micro_batch", s.micro_batch, at_least(1));
  field("grad_accum", s.grad_accum, at_least(1));
  field("weights", s.weights);
  field("val_every", s.val_every, at_least(0));
  field("val_batches", s.val_batches, at_least(1));
  field("val_label_system", s.val_label_system);
}

template <SectionOf<OptimConfig> S, class Field>
void visit_fields(S& s, Field&& field) {
  field("lr", s.lr, at_least(0));
  field("min_lr", s.min_lr, at_least(0));
  field("weight_decay", s.weight_decay, at_least(0));
  field("beta1", s.beta1, half_open(0, 1));
  field("beta2", s.beta2, half_open(0, 1));
  field("eps", s.eps, greater_than(0));
  field("grad_clip", s.grad_clip, at_least(0));
  field("schedule", s.schedule);
  field("warmup_steps", s.warmup_steps, at_least(0));
  field("decay_steps", s.decay_steps, at_least(0));
  field("no_decay", s.no_decay);
}

template <SectionOf<LossConfig> S, class Field>
void visit_fields(S& s, Field&& field) {
  field("lb_coef", s.lb_coef, at_least(0));
  field("z_coef", s.z_coef, at_least(0));
  field("lb_scope", s.lb_scope);
}

template <SectionOf<EdlConfig> S, class Field>
void visit_fields(S& s, Field&& field) {
  field("beta", s.beta, at_least(0));
  field("eps", s.eps, greater_than(0));
  field("labels", s.labels);
  field("scope", s.scope);
  field("layers", s.layers);
  field("random_seed", s.random_seed);
}

template <SectionOf<ParallelConfig> S, class Field>
void visit_fields(S& s, Field&& field) {
  field("ep", s.ep, at_least(1));
  field("ep_capacity", s.ep_capacity, at_least(0));
  field("zero", s.zero, closed(0, 1));
  field("ep_force_balance", s.ep_force_balance);
  field("timeout_s", s.timeout_s, at_least(0));
}

template <SectionOf<TrainConfig> S, class Field>
void visit_fields(S& s, Field&& field) {
  field("steps", s.steps, at_least(1));
  field("seed", s.seed);
  field("threads", s.threads, at_least(0));
  field("out_dir", s.out_dir);
  field("checkpoint_every", s.checkpoint_every, at_least(0));
  field("keep_checkpoints", s.keep_checkpoints, at_least(0));
  field("resume", s.resume);
  field("device", s.device);
  field("logit_chunk", s.logit_chunk, at_least(0));
  field("on_nonfinite", s.on_nonfinite);
  field("max_consecutive_skips", s.max_consecutive_skips, at_least(1));
}

template <SectionOf<LogConfig> S, class Field>
void visit_fields(S& s, Field&& field) {
  field("every", s.every, at_least(1));
  field("metrics_file", s.metrics_file);
  field("quiet", s.quiet);
}

// section(json_key, section_struct) for every section, in the order the resolved config lists them.
template <SectionOf<Config> C, class Section>
void visit_sections(C& c, Section&& section) {
  section("model", c.model);
  section("data", c.data);
  section("optim", c.optim);
  section("loss", c.loss);
  section("edl", c.edl);
  section("parallel", c.parallel);
  section("train", c.train);
  section("log", c.log);
}

// A key as --set and the unknown-key check see it.
struct KeyInfo {
  std::string section;
  std::string key;
  bool holds_json = false;  // a free-form JSON value (data.weights): --set may reach inside it
};

// Every key of every section, in schema order.
const std::vector<KeyInfo>& all_keys();
std::vector<std::string> section_names();

// The key, or nullptr when section.key is not one.
const KeyInfo* find_key(std::string_view section, std::string_view key);

// Why a name is not in the schema, pointing at the nearest known one: "unknown key (did you mean 'n_experts'?)",
// "unknown key (did you mean 'data.seq_len'?)" for a key of another section, else the keys it could be.
std::string unknown_section_message(std::string_view section);
std::string unknown_key_message(std::string_view section, std::string_view key);

}  // namespace diverge::config
