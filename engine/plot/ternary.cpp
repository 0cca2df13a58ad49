// Ternary simplex scatter: the triangle, its gridlines and labels, and the points of each series.
#include "engine/plot/ternary.h"

#include <cmath>

#include "engine/error.h"
#include "engine/plot/chart_style.h"
#include "engine/plot/colors.h"
#include "engine/plot/legend.h"
#include "engine/plot/svg.h"
#include "engine/plot/ticks.h"

namespace diverge::plot {
namespace {

constexpr double kSide = 460;
constexpr double kMargin = 70;
constexpr std::array<double, 4> kGridSteps = {0.2, 0.4, 0.6, 0.8};

struct Point {
  double x, y;
};

// Corner k of the triangle: 0 on top, 1 bottom left, 2 bottom right.
struct Triangle {
  std::array<Point, 3> corners;
  Point at(const std::array<double, 3>& w) const {
    const double sum = w[0] + w[1] + w[2];
    Point p{0, 0};
    for (int k = 0; k < 3; ++k) {
      p.x += w[k] / sum * corners[k].x;
      p.y += w[k] / sum * corners[k].y;
    }
    return p;
  }
  Point centroid() const { return at({1, 1, 1}); }
};

// A unit vector from the centroid through p: which way "outside" is for labels.
Point outward(const Triangle& t, Point p) {
  const Point c = t.centroid();
  const double dx = p.x - c.x, dy = p.y - c.y;
  const double n = std::hypot(dx, dy);
  return {dx / n, dy / n};
}

const char* anchor_for(Point direction) {
  return direction.x < -0.3 ? "end" : direction.x > 0.3 ? "start" : "middle";
}

std::array<double, 3> with(int k, double v, int zero_index) {
  std::array<double, 3> w{};
  w[k] = v;
  w[zero_index] = 0;
  w[3 - k - zero_index] = 1 - v;
  return w;
}

// For every coordinate k, the lines where it equals 0.2 .. 0.8 (parallel to the edge facing corner k), each
// labelled where it meets the edge on which coordinate k + 2 is zero, so each edge carries one coordinate's scale.
void draw_grid(SvgDocument& doc, const Triangle& t) {
  doc.open("g", {{"class", "simplex-grid"}});
  for (int k = 0; k < 3; ++k) {
    const int label_edge = (k + 2) % 3;
    const int other_edge = (k + 1) % 3;
    // In an equilateral triangle the line from the centroid to an edge's midpoint is the edge's outward normal.
    const Point normal = outward(t, t.at(with(k, 0.5, label_edge)));
    for (double v : kGridSteps) {
      const Point a = t.at(with(k, v, label_edge));
      const Point b = t.at(with(k, v, other_edge));
      doc.element("line", {{"class", "grid"}, {"x1", a.x}, {"y1", a.y}, {"x2", b.x}, {"y2", b.y}});
      doc.text_element("text", {{"class", "tick-label"}, {"x", a.x + 9 * normal.x}, {"y", a.y + 9 * normal.y + 4},
                                {"text-anchor", anchor_for(normal)}},
                       format_compact(v));
    }
  }
  doc.close();
}

void draw_frame(SvgDocument& doc, const Triangle& t, const std::array<std::string, 3>& names) {
  std::string points;
  for (const Point& c : t.corners) points += (points.empty() ? "" : " ") + format_number(c.x) + "," + format_number(c.y);
  doc.element("polygon", {{"class", "simplex"}, {"points", points}});
  for (int k = 0; k < 3; ++k) {
    const Point d = outward(t, t.corners[k]);
    doc.text_element("text", {{"class", "axis-label"}, {"x", t.corners[k].x + 16 * d.x},
                              {"y", t.corners[k].y + 16 * d.y + 5}, {"text-anchor", anchor_for(d)},
                              {"font-weight", "bold"}},
                     names[k]);
  }
}

void validate(const TernarySeries& s) {
  const std::string where = "ternary series '" + s.name + "'";
  check(s.labels.empty() || s.labels.size() == s.points.size(), where,
        std::to_string(s.labels.size()) + " labels for " + std::to_string(s.points.size()) + " points");
  for (std::size_t i = 0; i < s.points.size(); ++i) {
    const auto& w = s.points[i];
    if (!std::isfinite(w[0] + w[1] + w[2])) continue;
    check(w[0] >= 0 && w[1] >= 0 && w[2] >= 0, where, "point " + std::to_string(i) + " has a negative coordinate");
    check(w[0] + w[1] + w[2] > 0, where, "point " + std::to_string(i) + " has all coordinates zero");
  }
}

void draw_series(SvgDocument& doc, const Triangle& t, const TernarySeries& s, const std::string& color) {
  doc.open("g", {{"class", "series"}});
  doc.text_element("title", {}, s.name);
  for (std::size_t i = 0; i < s.points.size(); ++i) {
    const auto& w = s.points[i];
    if (!std::isfinite(w[0] + w[1] + w[2])) continue;
    const Point p = t.at(w);
    doc.element("circle", {{"class", "point"}, {"cx", p.x}, {"cy", p.y}, {"r", 5}, {"fill", color}});
    if (!s.labels.empty())
      doc.text_element("text", {{"class", "cell-value"}, {"x", p.x + 6}, {"y", p.y - 5}}, s.labels[i]);
  }
  doc.close();
}

}  // namespace

std::string render_ternary(const TernaryChart& chart) {
  std::vector<LegendEntry> legend;
  for (std::size_t i = 0; i < chart.series.size(); ++i) {
    validate(chart.series[i]);
    legend.push_back({chart.series[i].name, series_color(i), series_dash(i)});
  }
  const double width = kSide + 2 * kMargin;
  const double legend_top = title_height(chart.title);
  const double top = legend_top + legend_height(legend, width - 24) + 40;
  const double tri_height = kSide * std::sqrt(3.0) / 2;
  const double height = top + tri_height + 50;
  const Triangle t{{{{width / 2, top}, {kMargin, top + tri_height}, {kMargin + kSide, top + tri_height}}}};
  SvgDocument doc = begin_chart(width, height, chart.title);
  draw_legend(doc, legend, Swatch::dot, 12, legend_top, width - 24);
  draw_grid(doc, t);
  draw_frame(doc, t, chart.corners);
  for (std::size_t i = 0; i < chart.series.size(); ++i) draw_series(doc, t, chart.series[i], series_color(i));
  return doc.finish();
}

}  // namespace diverge::plot
