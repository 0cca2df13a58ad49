// Ternary simplex scatter: points in barycentric coordinates over three labelled corners (an expert's share of
// each of three domains), several series in different colours.
#pragma once

#include <array>
#include <string>
#include <vector>

namespace diverge::plot {

struct TernarySeries {
  std::string name;
  std::vector<std::array<double, 3>> points;  // non-negative weights of the three corners; normalised to sum 1
  std::vector<std::string> labels;            // empty, or one per point (e.g. expert ids)
};

struct TernaryChart {
  std::string title;
  std::array<std::string, 3> corners;  // top, bottom left, bottom right
  std::vector<TernarySeries> series;
};

// A standalone SVG: the triangle with gridlines at 0.2 steps of each coordinate, their values on the edges, the
// corner names, a legend and the points. Points with a non-finite coordinate are skipped; a negative coordinate,
// an all-zero point or a label count differing from the point count throws Error naming the series and point.
std::string render_ternary(const TernaryChart& chart);

}  // namespace diverge::plot
