// The plotting area of one line chart, shared by standalone charts and small multiples.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "engine/plot/axes.h"
#include "engine/plot/legend.h"
#include "engine/plot/line_chart.h"
#include "engine/plot/svg.h"

namespace diverge::plot {

// Colour and dash per series name, in order of first appearance, so that a run keeps its colour in every panel.
class SeriesStyles {
 public:
  explicit SeriesStyles(const std::vector<const LineChart*>& charts);
  const LegendEntry& style_of(const std::string& name) const;
  const std::vector<LegendEntry>& entries() const { return entries_; }

 private:
  std::vector<LegendEntry> entries_;
};

// Throws Error (naming the chart and series) when a series' x and y lengths differ or the smoothing is invalid.
void validate_line_chart(const LineChart& chart);

// A linear x axis ending at the plottable x values of all the charts ([0, 1] when there are none).
Axis shared_x_axis(const std::vector<const LineChart*>& charts, const std::string& label);

// Draws a panel title (none if empty), the axes and the chart's series inside `panel`; x_axis fixes the x domain.
void draw_line_panel(SvgDocument& doc, const Box& panel, const LineChart& chart, const SeriesStyles& styles,
                     const Axis& x_axis, std::string_view panel_title);

}  // namespace diverge::plot
