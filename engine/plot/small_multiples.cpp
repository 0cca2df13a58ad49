// Small multiples: panels laid out row by row under one title and one legend.
#include "engine/plot/small_multiples.h"

#include <algorithm>
#include <cmath>

#include "engine/error.h"
#include "engine/plot/chart_style.h"
#include "engine/plot/line_panel.h"

namespace diverge::plot {
namespace {

std::size_t column_count(const SmallMultiples& grid) {
  if (grid.columns > 0) return std::min(static_cast<std::size_t>(grid.columns), grid.panels.size());
  const auto square = static_cast<std::size_t>(std::ceil(std::sqrt(static_cast<double>(grid.panels.size()))));
  return std::min<std::size_t>(square, 4);
}

}  // namespace

std::string render_small_multiples(const SmallMultiples& grid) {
  check(!grid.panels.empty(), "small multiples '" + grid.title + "'", "there are no panels to draw");
  check(grid.panel_width > 100 && grid.panel_height > 80, "small multiples '" + grid.title + "'",
        "panels need at least 100 x 80 pixels");
  std::vector<const LineChart*> charts;
  for (const auto& panel : grid.panels) {
    validate_line_chart(panel);
    charts.push_back(&panel);
  }
  const SeriesStyles styles(charts);
  const Axis x_axis = shared_x_axis(charts, grid.x_label);
  const std::size_t columns = column_count(grid);
  const std::size_t rows = (grid.panels.size() + columns - 1) / columns;
  const double margin = 12;
  const double width = 2 * margin + static_cast<double>(columns) * grid.panel_width;
  const double legend_top = title_height(grid.title);
  const double legend_h = legend_height(styles.entries(), width - 2 * margin);
  const double grid_top = legend_top + legend_h + 6;
  const double height = grid_top + static_cast<double>(rows) * grid.panel_height + margin;
  SvgDocument doc = begin_chart(width, height, grid.title);
  draw_legend(doc, styles.entries(), Swatch::line, margin, legend_top, width - 2 * margin);
  for (std::size_t i = 0; i < grid.panels.size(); ++i) {
    const Box cell{margin + static_cast<double>(i % columns) * grid.panel_width,
                   grid_top + static_cast<double>(i / columns) * grid.panel_height, grid.panel_width,
                   grid.panel_height};
    draw_line_panel(doc, cell, grid.panels[i], styles, x_axis, grid.panels[i].title);
  }
  return doc.finish();
}

}  // namespace diverge::plot
