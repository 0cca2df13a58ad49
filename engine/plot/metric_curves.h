// Training curves from metrics logs: one panel per key, one series per run (what `diverge plot` draws).
#pragma once

#include <string>
#include <vector>

#include "engine/plot/run_log.h"
#include "engine/plot/small_multiples.h"

namespace diverge::plot {

struct CurveOptions {
  std::vector<std::string> keys;   // one panel each, in this order
  std::string x = "step";          // the key giving each record's position
  double smoothing = 0;            // EMA weight in [0, 1); validation curves, sparse, are never smoothed
  std::vector<std::string> log_y;  // keys (among `keys`) drawn on a logarithmic axis
  std::string title;
};

// Every key of any run, in order of first appearance (runs in order).
std::vector<std::string> available_keys(const std::vector<RunLog>& runs);

// The keys worth a panel when none are asked for: every available key except the positions "step" and "tokens".
std::vector<std::string> default_keys(const std::vector<RunLog>& runs);

// A label per run: the name of the folder holding its log ("runs/edl/metrics.jsonl" -> "edl"), or the whole path
// where folder names are missing or repeat.
std::vector<std::string> default_run_labels(const std::vector<fs::path>& paths);

// The panels. Labels must be distinct and not empty: a label is a series name, and a name keeps one colour. A record without the x key takes the position of a record with the same "step" that has it
// (evaluation records often carry only the step). Throws Error when labels and runs differ in number, a key is
// in no run (listing the available ones), a log_y key is not plotted, or a run has no record with the x key.
SmallMultiples metric_curves(const std::vector<RunLog>& runs, const std::vector<std::string>& labels,
                             const CurveOptions& options);

}  // namespace diverge::plot
