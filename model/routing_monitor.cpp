// RoutingMonitor: window sums per MoE layer from the model's routing, and their metrics, JSON record and summary.
#include "model/routing_monitor.h"

#include <algorithm>
#include <cstdio>

#include "engine/buffers.h"
#include "engine/device_memory.h"
#include "engine/error.h"

namespace diverge::model {
namespace {

std::vector<std::int64_t> moe_layers(const config::ModelConfig& model) {
  std::vector<std::int64_t> layers;
  for (std::int64_t l = model.first_k_dense; l < model.n_layers; ++l) layers.push_back(l);
  return layers;
}

nlohmann::json layer_record(std::int64_t layer, const ops::RoutingMetrics& m) {
  return {{"layer", layer},
          {"jsd_mean", m.jsd_mean},
          {"d_total", m.d_total},
          {"d_inter", m.d_inter},
          {"d_intra", m.d_intra},
          {"load_cv", m.load_cv},
          {"max_over_mean", m.load_max_over_mean},
          {"dead", m.dead_experts},
          {"specialised", m.specialised_fraction}};
}

std::string summary_line(const std::vector<ops::RoutingMetrics>& metrics) {
  double jsd = 0.0, inter = 0.0, total = 0.0;
  for (const ops::RoutingMetrics& m : metrics) {
    jsd += m.jsd_mean;
    inter += m.d_inter;
    total += m.d_total;
  }
  const double layers = static_cast<double>(std::max<std::size_t>(metrics.size(), 1));
  const double inter_share = total > 0.0 ? 100.0 * inter / total : 0.0;
  char line[64];
  std::snprintf(line, sizeof line, "jsd %.3f dinter %.0f%%", jsd / layers, inter_share);
  return line;
}

std::vector<double> doubles_of(const nlohmann::json& object, const char* key, std::size_t size,
                               std::string_view where, const std::string& at) {
  const auto found = object.find(key);
  check(found != object.end() && found->is_array() && found->size() == size, where,
        at + "." + key + ": expected an array of " + std::to_string(size) + " numbers");
  std::vector<double> values;
  for (const auto& value : *found) {
    check(value.is_number(), where, at + "." + key + ": expected numbers");
    values.push_back(value.get<double>());
  }
  return values;
}

}  // namespace

RoutingMonitor::RoutingMonitor(const config::ModelConfig& model, std::int64_t label_count, Device device)
    : layers_(moe_layers(model)),
      label_count_(label_count),
      experts_(model.n_experts),
      edl_sum_(layers_.size(), 0.0),
      edl_seen_(layers_.size(), 0),
      window_arena_("routing windows", device, 0),
      labels_arena_("routing monitor", device, 0) {
  check(label_count >= 1, "routing monitor", "needs a label count >= 1, got " + std::to_string(label_count));
  const std::int64_t size = ops::routing_window_size(label_count_, experts_);
  const auto allocate = [&](Buffers& buffers) {
    std::vector<Tensor> windows;
    for (std::size_t i = 0; i < layers_.size(); ++i) windows.push_back(buffers.take_zeroed(DType::f64, {size}));
    return windows;
  };
  window_arena_ = Arena("routing windows", device, planned_bytes(device, allocate));
  Buffers buffers(window_arena_);
  windows_ = allocate(buffers);
}

void RoutingMonitor::add(const Transformer& model, std::span<const std::int32_t> labels) {
  const std::int64_t rows = model.dims().batch;
  check(static_cast<std::int64_t>(labels.size()) == rows, "routing monitor",
        "got " + std::to_string(labels.size()) + " labels for a batch of " + std::to_string(rows) + " rows");
  check(model.device() == window_arena_.device(), "routing monitor",
        std::string("the model is on ") + device_name(model.device()) + ", the monitor's windows on " +
            device_name(window_arena_.device()));
  for (std::size_t s = 0; s < labels.size(); ++s)
    check(labels[s] >= 0 && labels[s] < label_count_, "routing monitor",
          "the label " + std::to_string(labels[s]) + " of sequence " + std::to_string(s) + " is outside [0, " +
              std::to_string(label_count_) + ")");
  // The domains (B), on the model's device.
  const Tensor domains =
      reallocate(labels_arena_, model.device(), [rows](Buffers& buffers) { return buffers.i32({rows}); });
  copy_tensor(make_view(const_cast<std::int32_t*>(labels.data()), DType::i32, Device::cpu, {rows}), domains);
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    const RouterActs& routing = model.routing(layers_[i]);
    ops::routing_window_add(routing.probs, Tensor{}, domains, routing.topk, windows_[i], label_count_);
  }
}

void RoutingMonitor::record_edl(const EdlTerm& edl, const EdlTerm::Losses& losses) {
  for (std::size_t i = 0; i < edl.layers().size(); ++i) {
    const auto at = std::find(layers_.begin(), layers_.end(), edl.layers()[i]);
    const auto slot = static_cast<std::size_t>(at - layers_.begin());
    edl_sum_[slot] += losses.layers[i];
    ++edl_seen_[slot];
  }
}

void RoutingMonitor::gather_window(Comm& group) {
  for (const Tensor& window : windows_) {
    group.allreduce(window, ReduceOp::sum);
    if (group.rank() != 0) device_zero(window.device, window.data, window.bytes());
  }
}

RoutingReport RoutingMonitor::finish() {
  RoutingReport report;
  report.layers = layers_;
  nlohmann::json records = nlohmann::json::array();
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    report.metrics.push_back(ops::routing_metrics(ops::routing_window_read(windows_[i], label_count_, experts_)));
    nlohmann::json record = layer_record(layers_[i], report.metrics.back());
    if (edl_seen_[i] > 0) record["edl"] = edl_sum_[i] / static_cast<double>(edl_seen_[i]);
    records.push_back(std::move(record));
  }
  report.json = {{"layers", std::move(records)}};
  report.summary = summary_line(report.metrics);
  for (const Tensor& window : windows_) device_zero(window.device, window.data, window.bytes());
  std::fill(edl_sum_.begin(), edl_sum_.end(), 0.0);
  std::fill(edl_seen_.begin(), edl_seen_.end(), 0);
  return report;
}

nlohmann::json RoutingMonitor::window_state() const {
  nlohmann::json layers = nlohmann::json::array();
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    const ops::RoutingSums sums = ops::routing_window_read(windows_[i], label_count_, experts_);
    layers.push_back({{"sequences", sums.sequences},
                      {"q_sum", sums.q_sum},
                      {"q_log_q", sums.q_log_q},
                      {"tokens", sums.tokens},
                      {"assignments", sums.assignments},
                      {"edl_sum", edl_sum_[i]},
                      {"edl_seen", edl_seen_[i]}});
  }
  return {{"layers", std::move(layers)}};
}

void RoutingMonitor::restore_window(const nlohmann::json& state, std::string_view where) {
  const std::string at = "routing_window";
  check(state.is_object() && state.contains("layers") && state["layers"].is_array() &&
            state["layers"].size() == layers_.size(),
        where, at + ": expected {\"layers\": [...]} with " + std::to_string(layers_.size()) + " MoE layers");
  const auto m = static_cast<std::size_t>(label_count_), me = static_cast<std::size_t>(label_count_ * experts_);
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    const nlohmann::json& layer = state["layers"][i];
    const std::string layer_at = at + ".layers[" + std::to_string(i) + "]";
    check(layer.is_object() && layer.contains("edl_sum") && layer["edl_sum"].is_number() &&
              layer.contains("edl_seen") && layer["edl_seen"].is_number_integer(),
          where, layer_at + ": expected edl_sum (a number) and edl_seen (an integer)");
    ops::RoutingSums sums(label_count_, experts_);
    sums.sequences = doubles_of(layer, "sequences", m, where, layer_at);
    sums.q_sum = doubles_of(layer, "q_sum", me, where, layer_at);
    sums.q_log_q = doubles_of(layer, "q_log_q", m, where, layer_at);
    sums.tokens = doubles_of(layer, "tokens", m, where, layer_at);
    sums.assignments = doubles_of(layer, "assignments", me, where, layer_at);
    ops::routing_window_write(sums, windows_[i]);
    edl_sum_[i] = layer["edl_sum"].get<double>();
    edl_seen_[i] = layer["edl_seen"].get<std::int64_t>();
  }
}

}  // namespace diverge::model
