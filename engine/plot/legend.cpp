// A legend laid out in wrapped rows.
#include "engine/plot/legend.h"

#include <algorithm>

#include "engine/plot/chart_style.h"

namespace diverge::plot {
namespace {

constexpr double kSwatchWidth = 20;
constexpr double kSwatchGap = 5;
constexpr double kEntryGap = 18;
constexpr double kRowHeight = 18;

double entry_width(const LegendEntry& e) {
  return kSwatchWidth + kSwatchGap + approximate_text_width(e.name, FontSize::legend);
}

struct Row {
  std::size_t begin, end;
  double width;
};

std::vector<Row> layout_rows(const std::vector<LegendEntry>& entries, double max_width) {
  std::vector<Row> rows;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const double w = entry_width(entries[i]);
    if (rows.empty() || rows.back().width + kEntryGap + w > max_width) {
      rows.push_back({i, i + 1, w});
    } else {
      rows.back().end = i + 1;
      rows.back().width += kEntryGap + w;
    }
  }
  return rows;
}

void draw_swatch(SvgDocument& doc, const LegendEntry& e, Swatch swatch, double x, double mid_y) {
  if (swatch == Swatch::dot) {
    doc.element("circle", {{"class", "point-swatch"}, {"cx", x + kSwatchWidth / 2}, {"cy", mid_y}, {"r", 4.5},
                           {"fill", e.color}});
  } else {
    doc.element("line", {{"class", "series-swatch"}, {"x1", x}, {"y1", mid_y}, {"x2", x + kSwatchWidth},
                         {"y2", mid_y}, {"stroke", e.color}, {"stroke-width", 2.5}, {"stroke-dasharray", e.dash}});
  }
}

}  // namespace

double legend_height(const std::vector<LegendEntry>& entries, double max_width) {
  return static_cast<double>(layout_rows(entries, max_width).size()) * kRowHeight;
}

void draw_legend(SvgDocument& doc, const std::vector<LegendEntry>& entries, Swatch swatch, double x, double y,
                 double max_width) {
  doc.open("g", {{"class", "legend"}});
  double row_top = y;
  for (const Row& row : layout_rows(entries, max_width)) {
    double cursor = x + std::max(0.0, (max_width - row.width) / 2);
    const double mid_y = row_top + kRowHeight / 2;
    for (std::size_t i = row.begin; i < row.end; ++i) {
      draw_swatch(doc, entries[i], swatch, cursor, mid_y);
      doc.text_element("text", {{"class", "legend-label"}, {"x", cursor + kSwatchWidth + kSwatchGap},
                                {"y", mid_y + 4}},
                       entries[i].name);
      cursor += entry_width(entries[i]) + kEntryGap;
    }
    row_top += kRowHeight;
  }
  doc.close();
}

}  // namespace diverge::plot
