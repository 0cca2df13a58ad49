// Heatmaps: cell grid, row and column labels, colour bar.
#include "engine/plot/heatmap.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "engine/error.h"
#include "engine/plot/axes.h"
#include "engine/plot/chart_style.h"
#include "engine/plot/colors.h"
#include "engine/plot/svg.h"
#include "engine/plot/ticks.h"

namespace diverge::plot {
namespace {

constexpr double kLabelGap = 6;
constexpr double kColorBarWidth = 14;
constexpr double kColorBarGap = 18;

struct ColorRange {
  double low, high;
  double t(double v) const { return (v - low) / (high - low); }
};

ColorRange color_range(const Heatmap& map, const std::string& where) {
  double low = std::numeric_limits<double>::infinity();
  double high = -std::numeric_limits<double>::infinity();
  for (double v : map.values) {
    if (!std::isfinite(v)) continue;
    low = std::min(low, v);
    high = std::max(high, v);
  }
  if (low > high) low = high = 0;  // no finite cell: any range draws the empty grid
  low = map.min.value_or(low);
  high = map.max.value_or(high);
  check(std::isfinite(low) && std::isfinite(high) && low <= high, where,
        "the colour range [min, max] must be finite and ordered");
  if (low == high) return {low - 0.5, high + 0.5};  // a constant matrix: its colour sits mid-scale
  return {low, high};
}

void validate(const Heatmap& map, const std::string& where) {
  check(!map.row_labels.empty() && !map.column_labels.empty(), where, "needs at least one row and one column");
  const std::size_t cells = map.row_labels.size() * map.column_labels.size();
  check(map.values.size() == cells, where,
        std::to_string(map.row_labels.size()) + " rows x " + std::to_string(map.column_labels.size()) +
            " columns need " + std::to_string(cells) + " values, got " + std::to_string(map.values.size()));
}

// Decimals for cell values: enough to tell typical shares and divergences apart, fewer for large numbers.
int value_decimals(const Heatmap& map) {
  double largest = 0;
  for (double v : map.values)
    if (std::isfinite(v)) largest = std::max(largest, std::fabs(v));
  return largest < 10 ? 2 : largest < 100 ? 1 : 0;
}

std::string cell_text(double v, int decimals) {
  if (std::fabs(v) >= 1e4) return format_compact(v);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

double widest(const std::vector<std::string>& labels, double font_size) {
  double w = 0;
  for (const auto& l : labels) w = std::max(w, approximate_text_width(l, font_size));
  return w;
}

struct Layout {
  double cell_w, cell_h;
  Box grid;
  bool vertical_columns;
  double column_label_h;  // height of the column labels under the grid
  double width, height;
};

Layout layout(const Heatmap& map) {
  const auto rows = static_cast<double>(map.row_labels.size());
  const auto columns = static_cast<double>(map.column_labels.size());
  Layout l{};
  l.cell_w = std::clamp(720 / columns, 12.0, 60.0);
  l.cell_h = std::clamp(440 / rows, 14.0, 44.0);
  if (rows == columns) l.cell_w = l.cell_h = std::min(l.cell_w, l.cell_h);  // square matrices read as squares
  if (map.show_values) {
    double text_w = 0;
    const int decimals = value_decimals(map);
    for (double v : map.values)
      if (std::isfinite(v)) text_w = std::max(text_w, approximate_text_width(cell_text(v, decimals), FontSize::cell_value));
    l.cell_w = std::max(l.cell_w, text_w + 6);
    l.cell_h = std::max(l.cell_h, FontSize::cell_value + 6);
  }
  const double column_label_w = widest(map.column_labels, FontSize::tick_label);
  l.vertical_columns = column_label_w > l.cell_w - 2;
  l.column_label_h = l.vertical_columns ? column_label_w + kLabelGap : FontSize::tick_label + kLabelGap;
  const double left = 16 + widest(map.row_labels, FontSize::tick_label) + kLabelGap + (map.y_label.empty() ? 0 : 22);
  const double top = title_height(map.title) + 8;
  l.grid = {left, top, l.cell_w * columns, l.cell_h * rows};
  const double bottom = l.column_label_h + (map.x_label.empty() ? 8 : 30);
  const double color_bar_w = kColorBarGap + kColorBarWidth + 60 + (map.value_label.empty() ? 0 : 22);
  l.width = std::max(l.grid.right() + color_bar_w + 12, approximate_text_width(map.title, FontSize::title) + 32);
  l.height = l.grid.bottom() + bottom + 8;
  return l;
}

void draw_cells(SvgDocument& doc, const Heatmap& map, const Layout& l, const ColorRange& range) {
  const int decimals = value_decimals(map);
  const std::size_t columns = map.column_labels.size();
  doc.open("g", {{"class", "cells"}});
  for (std::size_t r = 0; r < map.row_labels.size(); ++r) {
    for (std::size_t c = 0; c < columns; ++c) {
      const double v = map.values[r * columns + c];
      const double x = l.grid.x + static_cast<double>(c) * l.cell_w;
      const double y = l.grid.y + static_cast<double>(r) * l.cell_h;
      const std::string tooltip = map.row_labels[r] + " / " + map.column_labels[c] + ": ";
      if (!std::isfinite(v)) {
        doc.open("rect", {{"class", "missing-cell"}, {"x", x}, {"y", y}, {"width", l.cell_w}, {"height", l.cell_h}});
        doc.text_element("title", {}, tooltip + "no value");
        doc.close();
        continue;
      }
      doc.open("rect", {{"class", "cell"}, {"x", x}, {"y", y}, {"width", l.cell_w}, {"height", l.cell_h},
                        {"fill", viridis(range.t(v))}});
      doc.text_element("title", {}, tooltip + cell_text(v, decimals));
      doc.close();
      if (map.show_values)
        doc.text_element("text", {{"x", x + l.cell_w / 2}, {"y", y + l.cell_h / 2 + 3}, {"text-anchor", "middle"},
                                  {"class", viridis_is_dark(range.t(v)) ? "cell-value on-dark" : "cell-value"}},
                         cell_text(v, decimals));
    }
  }
  doc.close();
}

void draw_labels(SvgDocument& doc, const Heatmap& map, const Layout& l) {
  doc.open("g", {{"class", "labels"}});
  for (std::size_t r = 0; r < map.row_labels.size(); ++r) {
    const double y = l.grid.y + (static_cast<double>(r) + 0.5) * l.cell_h + 4;
    doc.text_element("text", {{"class", "tick-label"}, {"x", l.grid.x - kLabelGap}, {"y", y}, {"text-anchor", "end"}},
                     map.row_labels[r]);
  }
  for (std::size_t c = 0; c < map.column_labels.size(); ++c) {
    const double x = l.grid.x + (static_cast<double>(c) + 0.5) * l.cell_w;
    const double y = l.grid.bottom() + kLabelGap;
    if (l.vertical_columns) {
      // Rotated a quarter turn to read upwards, ending just under the grid; the glyphs sit left of the baseline,
      // so the baseline moves right by about a third of the font size to centre them on the column.
      const double bx = x + FontSize::tick_label * 0.35;
      draw_vertical_text(doc, "tick-label", bx, y, "end", map.column_labels[c]);
    } else {
      doc.text_element("text", {{"class", "tick-label"}, {"x", x}, {"y", y + FontSize::tick_label - 1},
                                {"text-anchor", "middle"}},
                       map.column_labels[c]);
    }
  }
  if (!map.x_label.empty())
    doc.text_element("text", {{"class", "axis-label"}, {"x", l.grid.x + l.grid.width / 2},
                              {"y", l.grid.bottom() + l.column_label_h + 20}, {"text-anchor", "middle"}},
                     map.x_label);
  if (!map.y_label.empty()) {
    const double lx = l.grid.x - kLabelGap - widest(map.row_labels, FontSize::tick_label) - 12;
    const double ly = l.grid.y + l.grid.height / 2;
    draw_vertical_text(doc, "axis-label", lx, ly, "middle", map.y_label);
  }
  doc.close();
}

void draw_color_bar(SvgDocument& doc, const Heatmap& map, const Layout& l, const ColorRange& range) {
  const Box bar{l.grid.right() + kColorBarGap, l.grid.y, kColorBarWidth, std::min(l.grid.height, 320.0)};
  doc.open("g", {{"class", "color-bar"}});
  doc.open("defs");
  doc.open("linearGradient", {{"id", "viridis-bar"}, {"x1", "0"}, {"y1", "1"}, {"x2", "0"}, {"y2", "0"}});
  for (int i = 0; i <= 10; ++i) {
    const double t = i / 10.0;
    doc.element("stop", {{"offset", t}, {"stop-color", viridis(t)}});
  }
  doc.close();
  doc.close();
  doc.element("rect", {{"x", bar.x}, {"y", bar.y}, {"width", bar.width}, {"height", bar.height},
                       {"fill", "url(#viridis-bar)"}, {"stroke", "#999999"}, {"stroke-width", 0.5}});
  const Ticks ticks = linear_ticks_within(range.low, range.high);
  double widest_label = 0;
  for (std::size_t i = 0; i < ticks.values.size(); ++i) {
    const double y = bar.bottom() - range.t(ticks.values[i]) * bar.height;
    doc.element("line", {{"class", "tick"}, {"x1", bar.right()}, {"y1", y}, {"x2", bar.right() + 4}, {"y2", y}});
    doc.text_element("text", {{"class", "tick-label"}, {"x", bar.right() + 7}, {"y", y + 4}}, ticks.labels[i]);
    widest_label = std::max(widest_label, approximate_text_width(ticks.labels[i], FontSize::tick_label));
  }
  if (!map.value_label.empty()) {
    const double lx = bar.right() + 7 + widest_label + 16;
    const double ly = bar.y + bar.height / 2;
    draw_vertical_text(doc, "axis-label", lx, ly, "middle", map.value_label);
  }
  doc.close();
}

}  // namespace

std::string render_heatmap(const Heatmap& map) {
  const std::string where = "heatmap '" + map.title + "'";
  validate(map, where);
  const ColorRange range = color_range(map, where);
  const Layout l = layout(map);
  SvgDocument doc = begin_chart(l.width, l.height, map.title);
  draw_cells(doc, map, l, range);
  draw_labels(doc, map, l);
  draw_color_bar(doc, map, l, range);
  return doc.finish();
}

}  // namespace diverge::plot
