// Small multiples: a grid of line-chart panels sharing the x axis and one legend (e.g. loss parts side by side).
#pragma once

#include <string>
#include <vector>

#include "engine/plot/line_chart.h"

namespace diverge::plot {

struct SmallMultiples {
  std::string title;
  std::string x_label;            // shared by every panel, like the x domain
  std::vector<LineChart> panels;  // each titled by its own title; a series name keeps one colour in all panels
  int columns = 0;                // 0: about square, at most 4 wide
  double panel_width = 380;
  double panel_height = 270;
};

// A standalone SVG of the grid. Throws Error when there is no panel or a panel is invalid (see render_line_chart).
std::string render_small_multiples(const SmallMultiples& grid);

}  // namespace diverge::plot
