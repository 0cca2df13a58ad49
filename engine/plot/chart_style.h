// The look shared by every chart: font sizes, the CSS sheet, the white page and the title.
#pragma once

#include <string_view>

#include "engine/plot/svg.h"

namespace diverge::plot {

// Font sizes in pixels; layout code measures text with these.
struct FontSize {
  static constexpr double title = 16;
  static constexpr double panel_title = 13;
  static constexpr double axis_label = 12;
  static constexpr double tick_label = 11;
  static constexpr double legend = 12;
  static constexpr double cell_value = 9;
};

// Space above the plotting area taken by a chart title (0 without one).
double title_height(std::string_view title);

// Text turned a quarter anticlockwise (reading upwards) with its anchor at (x, y): y-axis titles, column labels.
void draw_vertical_text(SvgDocument& doc, std::string_view css_class, double x, double y, std::string_view anchor,
                        std::string_view text);

// A document of the given size with the shared style sheet, a white background and the title centred on top.
SvgDocument begin_chart(double width, double height, std::string_view title);

}  // namespace diverge::plot
