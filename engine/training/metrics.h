// The training metrics: step and eval records, the JSONL log that keeps them, and the one human line per step.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace diverge {

namespace fs = std::filesystem;

// The loss terms of one optimizer step, each the mean over its micro-batches (MODEL.md "Losses").
struct LossParts {
  double total = 0.0;  // lm + lb_coef * lb + z_coef * z + edl.beta * edl
  double lm = 0.0;
  double lb = 0.0;
  double z = 0.0;
  double edl = 0.0;  // L_EDL, computed (and logged) also when beta = 0, so baselines show how alike domains route
};

// One optimizer step as the log records it: {"type": "train", "step", "tokens", "loss", "lm", "lb", "z",
// "edl", "grad_norm", "lr", "skipped_steps", "tokens_per_s", "elapsed_s", "routing"}; "routing" is the routing
// monitor's per-layer record of the logging window that ends at this step (model/routing_monitor.h). A NaN or an
// infinity is written as null (JSON has neither).
struct StepRecord {
  std::int64_t step = 0;    // optimizer steps completed, this one included
  std::int64_t tokens = 0;  // training tokens consumed so far, all ranks together
  LossParts loss;
  double grad_norm = 0.0;     // global gradient norm before clipping
  double lr = 0.0;            // the learning rate this step's update used
  std::int64_t skipped_steps = 0;  // steps whose update the non-finite guard skipped so far (train.on_nonfinite)
  double tokens_per_s = 0.0;  // this step's throughput
  double elapsed_s = 0.0;     // wall time since this process started training
  nlohmann::json routing;     // per-layer routing metrics of the window; null when not taken
  std::string routing_summary;  // "jsd 0.123 dinter 45%", for the step line

  nlohmann::ordered_json to_json() const;
};

// One validation pass: {"type": "eval", "step", "tokens", "label_system", "val_loss": {label: loss},
// "val_loss_mean"}, the mean taken over the labels (each domain counts once, whatever its size).
struct EvalRecord {
  std::int64_t step = 0;
  std::int64_t tokens = 0;
  std::string label_system;
  std::vector<std::pair<std::string, double>> val_loss;  // (labels) in label-id order

  double mean() const;
  nlohmann::ordered_json to_json() const;
};

// The JSONL metrics file: one JSON object per line, flushed as it is written, so a killed run loses at most the
// line it was writing. A run that resumes from step k keeps the records of steps <= k in the log and moves the
// rest, which a run killed after its last checkpoint wrote and which the resumed run is about to write again, to
// the superseded file beside it: no record a run ever wrote is lost.
class MetricsLog {
 public:
  // Opens path for appending after keeping only the records with "step" <= resumed_step (0 for a fresh run) and
  // appending the others to superseded_metrics_path(path). A torn last line (a kill mid-write) is dropped; any
  // other line that is not a JSON object with an integer "step" is an Error naming the file and line.
  MetricsLog(fs::path path, std::int64_t resumed_step);
  ~MetricsLog();
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;

  void write(const nlohmann::ordered_json& record);
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
  std::FILE* file_ = nullptr;
};

// "metrics.superseded.jsonl" beside "metrics.jsonl": records a resume took out of the log, oldest first.
fs::path superseded_metrics_path(const fs::path& metrics);

// The records a metrics file holds, parsed; Error naming the file and line for a line that is not a JSON object.
std::vector<nlohmann::json> read_metrics(const fs::path& path);

// "step 120/2000 | loss 4.512 (lm 4.498 lb 1.013 z 0.000) | gnorm 0.83 | lr 5.9e-04 | 12,345 tok/s | ETA 4m10s"
std::string format_step_line(const StepRecord& record, std::int64_t total_steps, double eta_s);
// "eval step 200 | val loss 4.101 (code 3.912 math 4.250 prose 4.141)"
std::string format_eval_line(const EvalRecord& record);
// 12345.6 -> "12,346": whole numbers with thousands separators.
std::string format_thousands(double value);

}  // namespace diverge
