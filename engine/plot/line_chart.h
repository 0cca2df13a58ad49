// Line charts: several named (x, y) series, optional log y and EMA smoothing drawn over the faint raw data.
#pragma once

#include <string>
#include <vector>

namespace diverge::plot {

// One curve. x and y have equal lengths; points with a non-finite x or y (or y <= 0 on a log axis) are missing:
// the line breaks there and nothing is drawn for them.
struct Series {
  std::string name;
  std::vector<double> x;
  std::vector<double> y;
};

struct LineChart {
  std::string title;
  std::string x_label;
  std::string y_label;
  std::vector<Series> series;
  bool log_y = false;
  double smoothing = 0;  // EMA weight in [0, 1); above 0 the smoothed curve is drawn over the faint raw one
};

// A standalone SVG of the chart: title, legend (one colour per series name), axes with round ticks.
// Throws Error when a series' x and y differ in length or the smoothing weight is outside [0, 1).
std::string render_line_chart(const LineChart& chart, double width = 760, double height = 460);

}  // namespace diverge::plot
