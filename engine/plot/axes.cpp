// Axes of a 2-D chart: scales and the drawing of grid lines, ticks and axis titles.
#include "engine/plot/axes.h"

#include <algorithm>
#include <cmath>

#include "engine/plot/chart_style.h"

namespace diverge::plot {
namespace {

constexpr double kTickLength = 4;

double position(const Axis& axis, double value) {
  return axis.kind == ScaleKind::logarithmic ? std::log10(value) : value;
}

}  // namespace

Axis make_axis(ScaleKind kind, double low, double high, std::string label, Extent extent) {
  Axis axis;
  axis.kind = kind;
  if (kind == ScaleKind::logarithmic) {
    axis.ticks = log_ticks(low, high);
  } else {
    axis.ticks = extent == Extent::tight ? linear_ticks_within(low, high) : linear_ticks(low, high);
  }
  axis.label = std::move(label);
  return axis;
}

bool plottable(const Axis& axis, double value) {
  return std::isfinite(value) && (axis.kind == ScaleKind::linear || value > 0);
}

double to_pixel(const Axis& axis, double value, double from, double to) {
  const double low = position(axis, axis.ticks.low);
  const double high = position(axis, axis.ticks.high);
  return from + (position(axis, value) - low) / (high - low) * (to - from);
}

double widest_tick_label(const Axis& axis) {
  double widest = 0;
  for (const auto& label : axis.ticks.labels)
    widest = std::max(widest, approximate_text_width(label, FontSize::tick_label));
  return widest;
}

void draw_axes(SvgDocument& doc, const Box& area, const Axis& x, const Axis& y) {
  doc.open("g", {{"class", "axes"}});
  for (std::size_t i = 0; i < x.ticks.values.size(); ++i) {
    const double px = to_pixel(x, x.ticks.values[i], area.x, area.right());
    doc.element("line", {{"class", "grid"}, {"x1", px}, {"y1", area.y}, {"x2", px}, {"y2", area.bottom()}});
    doc.element("line", {{"class", "tick"}, {"x1", px}, {"y1", area.bottom()}, {"x2", px},
                         {"y2", area.bottom() + kTickLength}});
    doc.text_element("text", {{"class", "tick-label"}, {"x", px}, {"y", area.bottom() + kTickLength + 12},
                              {"text-anchor", "middle"}},
                     x.ticks.labels[i]);
  }
  for (std::size_t i = 0; i < y.ticks.values.size(); ++i) {
    const double py = to_pixel(y, y.ticks.values[i], area.bottom(), area.y);
    doc.element("line", {{"class", "grid"}, {"x1", area.x}, {"y1", py}, {"x2", area.right()}, {"y2", py}});
    doc.element("line", {{"class", "tick"}, {"x1", area.x - kTickLength}, {"y1", py}, {"x2", area.x}, {"y2", py}});
    doc.text_element("text", {{"class", "tick-label"}, {"x", area.x - kTickLength - 3}, {"y", py + 4},
                              {"text-anchor", "end"}},
                     y.ticks.labels[i]);
  }
  doc.element("rect", {{"class", "frame"}, {"x", area.x}, {"y", area.y}, {"width", area.width},
                       {"height", area.height}});
  if (!x.label.empty())
    doc.text_element("text", {{"class", "axis-label"}, {"x", area.x + area.width / 2}, {"y", area.bottom() + 34},
                              {"text-anchor", "middle"}},
                     x.label);
  if (!y.label.empty()) {
    const double lx = area.x - widest_tick_label(y) - kTickLength - 12;
    const double ly = area.y + area.height / 2;
    draw_vertical_text(doc, "axis-label", lx, ly, "middle", y.label);
  }
  doc.close();
}

}  // namespace diverge::plot
