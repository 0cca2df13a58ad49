// Training curves from metrics logs: keys to panels, runs to series, records to points.
#include "engine/plot/metric_curves.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "engine/error.h"

namespace diverge::plot {
namespace {

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

bool contains(const std::vector<std::string>& items, const std::string& item) {
  return std::find(items.begin(), items.end(), item) != items.end();
}

// Each record's position on the x axis (NaN when it has none), filling gaps from records at the same step.
std::vector<double> positions(const RunLog& run, const std::string& x_key) {
  std::vector<double> x(run.records.size(), std::nan(""));  // (records)
  const auto x_index = run.key_index(x_key);
  check(x_index.has_value(), run.path.string(), "no record has the x key '" + x_key + "'");
  const auto step_index = run.key_index("step");
  std::map<double, double> x_at_step;
  for (std::size_t i = 0; i < run.records.size(); ++i) {
    const auto v = RunLog::value(run.records[i], *x_index);
    if (!v) continue;
    x[i] = *v;
    if (step_index)
      if (const auto step = RunLog::value(run.records[i], *step_index)) x_at_step.emplace(*step, *v);
  }
  if (!step_index) return x;
  for (std::size_t i = 0; i < run.records.size(); ++i) {
    if (!std::isnan(x[i])) continue;
    if (const auto step = RunLog::value(run.records[i], *step_index)) {
      const auto it = x_at_step.find(*step);
      if (it != x_at_step.end()) x[i] = it->second;
    }
  }
  return x;
}

Series series_of(const RunLog& run, const std::vector<double>& x, const std::string& key, const std::string& label) {
  Series s{label, {}, {}};
  const auto index = run.key_index(key);
  if (!index) return s;
  for (std::size_t i = 0; i < run.records.size(); ++i) {
    if (const auto v = RunLog::value(run.records[i], *index)) {
      s.x.push_back(x[i]);
      s.y.push_back(*v);
    }
  }
  return s;
}

void check_keys(const std::vector<RunLog>& runs, const CurveOptions& options) {
  const auto available = available_keys(runs);
  for (const auto& key : options.keys)
    check(contains(available, key), "plot",
          "unknown key '" + key + "': no log has it; available keys: " + joined(available));
  for (const auto& key : options.log_y)
    check(contains(options.keys, key), "plot", "log-scale key '" + key + "' is not among the plotted keys");
}

}  // namespace

std::vector<std::string> available_keys(const std::vector<RunLog>& runs) {
  std::vector<std::string> keys;
  std::set<std::string> seen;
  for (const auto& run : runs)
    for (const auto& key : run.keys)
      if (seen.insert(key).second) keys.push_back(key);
  return keys;
}

std::vector<std::string> default_keys(const std::vector<RunLog>& runs) {
  std::vector<std::string> keys;
  for (const auto& key : available_keys(runs))
    if (key != "step" && key != "tokens") keys.push_back(key);
  return keys;
}

std::vector<std::string> default_run_labels(const std::vector<fs::path>& paths) {
  std::vector<std::string> labels;
  for (const auto& path : paths) labels.push_back(path.parent_path().filename().string());
  std::set<std::string> distinct(labels.begin(), labels.end());
  const bool usable = distinct.size() == labels.size() && !distinct.contains("") && !distinct.contains(".");
  if (usable) return labels;
  labels.clear();
  for (const auto& path : paths) labels.push_back(path.string());
  return labels;
}

SmallMultiples metric_curves(const std::vector<RunLog>& runs, const std::vector<std::string>& labels,
                             const CurveOptions& options) {
  check(labels.size() == runs.size(), "plot",
        std::to_string(labels.size()) + " labels for " + std::to_string(runs.size()) + " metrics logs");
  check(std::set<std::string>(labels.begin(), labels.end()).size() == labels.size() && !contains(labels, ""),
        "plot", "run labels must be distinct and not empty, got '" + joined(labels) + "'");
  check(!options.keys.empty(), "plot", "no key to plot");
  check_keys(runs, options);
  std::vector<std::vector<double>> x;  // (runs, records)
  for (const auto& run : runs) x.push_back(positions(run, options.x));
  SmallMultiples grid;
  grid.title = options.title;
  grid.x_label = options.x;
  for (const auto& key : options.keys) {
    LineChart panel;
    panel.title = key;
    panel.log_y = contains(options.log_y, key);
    panel.smoothing = is_validation_key(key) ? 0 : options.smoothing;
    for (std::size_t r = 0; r < runs.size(); ++r) panel.series.push_back(series_of(runs[r], x[r], key, labels[r]));
    grid.panels.push_back(std::move(panel));
  }
  return grid;
}

}  // namespace diverge::plot
