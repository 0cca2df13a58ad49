// The look shared by every chart: one CSS sheet so that elements carry classes instead of repeated styling.
#include "engine/plot/chart_style.h"

#include <string>

namespace diverge::plot {
namespace {

std::string font_rule(std::string_view selector, double size, std::string_view extra = "") {
  return std::string(selector) + " { font-size: " + format_number(size) + "px;" + std::string(extra) + " }\n";
}

// Built from FontSize so that the sizes layout code measures with are the sizes the renderer uses.
std::string style_sheet() {
  return std::string(R"(text { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; fill: #222222; }
)") + font_rule(".title", FontSize::title, " font-weight: bold;") +
         font_rule(".panel-title", FontSize::panel_title, " font-weight: bold;") +
         font_rule(".axis-label", FontSize::axis_label) + font_rule(".tick-label", FontSize::tick_label, " fill: #555555;") +
         font_rule(".legend-label", FontSize::legend) + font_rule(".note", FontSize::axis_label, " fill: #888888;") +
         font_rule(".cell-value", FontSize::cell_value) +
         R"(.grid { stroke: #e6e6e6; stroke-width: 1; }
.frame { fill: none; stroke: #999999; stroke-width: 1; }
.tick { stroke: #999999; stroke-width: 1; }
.series { fill: none; stroke-width: 1.8; stroke-linejoin: round; stroke-linecap: round; }
.series-raw { fill: none; stroke-width: 1; stroke-opacity: 0.25; }
.simplex { fill: none; stroke: #666666; stroke-width: 1.2; }
.point { stroke: #ffffff; stroke-width: 0.8; fill-opacity: 0.85; }
.missing-cell { fill: #f2f2f2; }
.on-dark { fill: #ffffff; }
)";
}

}  // namespace

double title_height(std::string_view title) { return title.empty() ? 12 : 34; }

void draw_vertical_text(SvgDocument& doc, std::string_view css_class, double x, double y, std::string_view anchor,
                        std::string_view text) {
  doc.text_element("text", {{"class", css_class}, {"x", x}, {"y", y}, {"text-anchor", anchor},
                            {"transform", "rotate(-90 " + format_number(x) + " " + format_number(y) + ")"}},
                   text);
}

SvgDocument begin_chart(double width, double height, std::string_view title) {
  SvgDocument doc(width, height);
  doc.style(style_sheet());
  doc.element("rect", {{"width", width}, {"height", height}, {"fill", "#ffffff"}});
  if (!title.empty())
    doc.text_element("text", {{"class", "title"}, {"x", width / 2}, {"y", 23}, {"text-anchor", "middle"}}, title);
  return doc;
}

}  // namespace diverge::plot
