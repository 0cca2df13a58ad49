// A legend: one swatch and name per series, laid out in centred rows that wrap to the available width.
#pragma once

#include <string>
#include <vector>

#include "engine/plot/svg.h"

namespace diverge::plot {

struct LegendEntry {
  std::string name;
  std::string color;
  std::string dash;  // stroke-dasharray of a line swatch ("none" for solid)
};

enum class Swatch { line, dot };

// Height the legend takes when wrapped into max_width (0 for no entries).
double legend_height(const std::vector<LegendEntry>& entries, double max_width);

// Draws the legend in rows centred on [x, x + max_width], the first row's top at y.
void draw_legend(SvgDocument& doc, const std::vector<LegendEntry>& entries, Swatch swatch, double x, double y,
                 double max_width);

}  // namespace diverge::plot
