// Heatmaps: a matrix with row and column labels, a viridis colour bar and optional values in the cells
// (domain x expert share maps, JSD matrices).
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace diverge::plot {

struct Heatmap {
  std::string title;
  std::string x_label;      // under the column labels, e.g. "expert"
  std::string y_label;      // beside the row labels, e.g. "domain"
  std::string value_label;  // beside the colour bar, e.g. "JSD" or "share of domain tokens"
  std::vector<std::string> row_labels;
  std::vector<std::string> column_labels;
  std::vector<double> values;  // (rows * columns), row-major; a non-finite cell is drawn empty
  bool show_values = false;    // cells widen as needed to hold their values
  std::optional<double> min;   // colour range; the data's own range where unset
  std::optional<double> max;
};

// A standalone SVG of the heatmap. Column labels turn vertical when they do not fit across a cell, so 64 experts
// stay legible. Throws Error when the labels and values disagree in shape or the colour range is empty.
std::string render_heatmap(const Heatmap& map);

}  // namespace diverge::plot
