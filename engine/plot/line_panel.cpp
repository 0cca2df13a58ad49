// The plotting area of one line chart: y axis from the data, series paths with breaks at missing values.
#include "engine/plot/line_panel.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "engine/error.h"
#include "engine/plot/chart_style.h"
#include "engine/plot/colors.h"
#include "engine/plot/smoothing.h"

namespace diverge::plot {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// Series with at most this many points also get a dot per point: sparse curves (evaluations) stay readable.
constexpr std::size_t kMaxPointsWithMarkers = 30;

struct Range {
  double low = std::numeric_limits<double>::infinity();
  double high = -std::numeric_limits<double>::infinity();
  void add(double v) {
    low = std::min(low, v);
    high = std::max(high, v);
  }
  bool empty() const { return low > high; }
};

bool y_plottable(const LineChart& chart, double y) { return std::isfinite(y) && (!chart.log_y || y > 0); }

// The y values that can be drawn, NaN where a point is missing (non-finite x or y, y <= 0 on a log axis).
std::vector<double> plottable_y(const LineChart& chart, const Series& s) {
  std::vector<double> y(s.y.size(), kNaN);  // (points)
  for (std::size_t i = 0; i < s.y.size(); ++i)
    if (std::isfinite(s.x[i]) && y_plottable(chart, s.y[i])) y[i] = s.y[i];
  return y;
}

Axis y_axis_for(const LineChart& chart) {
  Range range;
  for (const auto& s : chart.series)
    for (double y : plottable_y(chart, s))
      if (!std::isnan(y)) range.add(y);
  const ScaleKind kind = chart.log_y ? ScaleKind::logarithmic : ScaleKind::linear;
  if (range.empty()) return make_axis(kind, 1, chart.log_y ? 10 : 1, chart.y_label);
  return make_axis(kind, range.low, range.high, chart.y_label);
}

struct Points {
  std::vector<double> px, py;  // (points); NaN where missing
  std::size_t present = 0;
};

Points to_pixels(const Series& s, const std::vector<double>& y, const Box& area, const Axis& x_axis,
                 const Axis& y_axis) {
  Points p{std::vector<double>(y.size(), kNaN), std::vector<double>(y.size(), kNaN), 0};
  for (std::size_t i = 0; i < y.size(); ++i) {
    if (std::isnan(y[i])) continue;
    p.px[i] = to_pixel(x_axis, s.x[i], area.x, area.right());
    p.py[i] = to_pixel(y_axis, y[i], area.bottom(), area.y);
    ++p.present;
  }
  return p;
}

// The points worth drawing: of each run of consecutive points in one pixel column, the first, lowest, highest and
// last, in order (M4 aggregation). The drawn line is unchanged while a 100k-step log shrinks to a few points per
// pixel. One missing point is kept per gap so that the gap stays.
std::vector<std::size_t> visible_points(const Points& p) {
  std::vector<std::size_t> keep;
  const std::size_t n = p.px.size();
  for (std::size_t i = 0; i < n;) {
    if (std::isnan(p.px[i])) {
      if (keep.empty() || !std::isnan(p.px[keep.back()])) keep.push_back(i);
      ++i;
      continue;
    }
    const double column = std::floor(p.px[i]);
    std::size_t lowest = i, highest = i, j = i;
    for (; j < n && !std::isnan(p.px[j]) && std::floor(p.px[j]) == column; ++j) {
      if (p.py[j] < p.py[lowest]) lowest = j;
      if (p.py[j] > p.py[highest]) highest = j;
    }
    std::array<std::size_t, 4> chosen = {i, lowest, highest, j - 1};
    std::sort(chosen.begin(), chosen.end());
    for (std::size_t k = 0; k < chosen.size(); ++k)
      if (k == 0 || chosen[k] != chosen[k - 1]) keep.push_back(chosen[k]);
    i = j;
  }
  return keep;
}

// One path per series; a missing point lifts the pen so the gap shows.
void draw_path(SvgDocument& doc, const Points& p, const LegendEntry& style, const char* css_class) {
  if (p.present == 0) return;
  PathData d;
  bool pen_down = false;
  for (std::size_t i : visible_points(p)) {
    if (std::isnan(p.px[i])) {
      pen_down = false;
      continue;
    }
    if (pen_down) {
      d.line_to(p.px[i], p.py[i]);
    } else {
      d.move_to(p.px[i], p.py[i]);
    }
    pen_down = true;
  }
  doc.open("path", {{"class", css_class}, {"d", d.str()}, {"stroke", style.color}, {"stroke-dasharray", style.dash}});
  doc.text_element("title", {}, style.name);
  doc.close();
}

void draw_markers(SvgDocument& doc, const Points& p, const LegendEntry& style) {
  if (p.present == 0 || p.present > kMaxPointsWithMarkers) return;
  for (std::size_t i = 0; i < p.px.size(); ++i)
    if (!std::isnan(p.px[i]))
      doc.element("circle", {{"class", "marker"}, {"cx", p.px[i]}, {"cy", p.py[i]}, {"r", 2.5}, {"fill", style.color}});
}

void draw_series(SvgDocument& doc, const LineChart& chart, const Box& area, const Axis& x_axis, const Axis& y_axis,
                 const SeriesStyles& styles) {
  doc.open("g", {{"class", "data"}});
  if (chart.smoothing > 0) {
    for (const auto& s : chart.series)
      draw_path(doc, to_pixels(s, plottable_y(chart, s), area, x_axis, y_axis), styles.style_of(s.name), "series-raw");
  }
  for (const auto& s : chart.series) {
    const auto y = plottable_y(chart, s);
    const Points p = to_pixels(s, chart.smoothing > 0 ? ema_smooth(y, chart.smoothing) : y, area, x_axis, y_axis);
    draw_path(doc, p, styles.style_of(s.name), "series");
    draw_markers(doc, p, styles.style_of(s.name));
  }
  doc.close();
}

bool has_data(const LineChart& chart) {
  for (const auto& s : chart.series)
    for (double y : plottable_y(chart, s))
      if (!std::isnan(y)) return true;
  return false;
}

}  // namespace

SeriesStyles::SeriesStyles(const std::vector<const LineChart*>& charts) {
  for (const LineChart* chart : charts) {
    for (const auto& s : chart->series) {
      const bool seen = std::any_of(entries_.begin(), entries_.end(), [&](const auto& e) { return e.name == s.name; });
      if (!seen) entries_.push_back({s.name, series_color(entries_.size()), series_dash(entries_.size())});
    }
  }
}

const LegendEntry& SeriesStyles::style_of(const std::string& name) const {
  for (const auto& e : entries_)
    if (e.name == name) return e;
  throw Error("plot", "series '" + name + "' has no style");
}

void validate_line_chart(const LineChart& chart) {
  const std::string where = "line chart '" + chart.title + "'";
  check(chart.smoothing >= 0 && chart.smoothing < 1, where, "smoothing must be in [0, 1)");
  for (const auto& s : chart.series)
    check(s.x.size() == s.y.size(), where,
          "series '" + s.name + "' has " + std::to_string(s.x.size()) + " x values but " +
              std::to_string(s.y.size()) + " y values");
}

Axis shared_x_axis(const std::vector<const LineChart*>& charts, const std::string& label) {
  Range range;
  for (const LineChart* chart : charts)
    for (const auto& s : chart->series)
      for (std::size_t i = 0; i < s.x.size(); ++i)
        if (std::isfinite(s.x[i]) && y_plottable(*chart, s.y[i])) range.add(s.x[i]);
  if (range.empty()) return make_axis(ScaleKind::linear, 0, 1, label, Extent::tight);
  return make_axis(ScaleKind::linear, range.low, range.high, label, Extent::tight);
}

void draw_line_panel(SvgDocument& doc, const Box& panel, const LineChart& chart, const SeriesStyles& styles,
                     const Axis& x_axis, std::string_view panel_title) {
  const Axis y_axis = y_axis_for(chart);
  const double top = panel_title.empty() ? 8 : 24;
  const double left = widest_tick_label(y_axis) + 12 + (y_axis.label.empty() ? 0 : 20);
  const double bottom = x_axis.label.empty() ? 24 : 44;
  const double right = std::max(24.0, widest_tick_label(x_axis) / 2 + 12);
  const Box area{panel.x + left, panel.y + top, panel.width - left - right, panel.height - top - bottom};
  doc.open("g", {{"class", "panel"}});
  if (!panel_title.empty())
    doc.text_element("text", {{"class", "panel-title"}, {"x", area.x + area.width / 2}, {"y", panel.y + 16},
                              {"text-anchor", "middle"}},
                     panel_title);
  draw_axes(doc, area, x_axis, y_axis);
  if (has_data(chart)) {
    draw_series(doc, chart, area, x_axis, y_axis, styles);
  } else {
    doc.text_element("text", {{"class", "note"}, {"x", area.x + area.width / 2}, {"y", area.y + area.height / 2},
                              {"text-anchor", "middle"}},
                     "no data");
  }
  doc.close();
}

}  // namespace diverge::plot
