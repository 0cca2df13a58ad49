// Axes of a 2-D chart: data-to-pixel scales (linear or logarithmic) and the drawing of grid, ticks and labels.
#pragma once

#include <string>

#include "engine/plot/svg.h"
#include "engine/plot/ticks.h"

namespace diverge::plot {

// A rectangle in pixels.
struct Box {
  double x = 0, y = 0, width = 0, height = 0;
  double right() const { return x + width; }
  double bottom() const { return y + height; }
};

enum class ScaleKind { linear, logarithmic };

// One axis: its kind, its ticks (which fix the domain) and its title.
struct Axis {
  ScaleKind kind = ScaleKind::linear;
  Ticks ticks;
  std::string label;
};

// How an axis domain relates to the data range: widened to the outermost round ticks (values, so that the data
// never touch an unlabelled edge) or ending at the data (positions such as steps, where empty space misleads).
enum class Extent { loose, tight };

// An axis over the data range [low, high] with round ticks. Logarithmic axes need low > 0 and are always loose.
Axis make_axis(ScaleKind kind, double low, double high, std::string label, Extent extent = Extent::loose);

// Whether a value can be placed on the axis: finite, and positive on a logarithmic one.
bool plottable(const Axis& axis, double value);

// Maps a plottable value of the axis domain onto the pixel interval [from, to] (to < from flips it, as y does).
double to_pixel(const Axis& axis, double value, double from, double to);

// Width of the widest tick label of an axis, for margins.
double widest_tick_label(const Axis& axis);

// Grid lines, frame, tick marks and tick labels of both axes around `area`, and the axis titles outside them.
void draw_axes(SvgDocument& doc, const Box& area, const Axis& x, const Axis& y);

}  // namespace diverge::plot
