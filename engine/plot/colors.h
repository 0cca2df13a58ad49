// Plot colours: a colour-blind-safe categorical palette for series and the viridis colormap for values.
#pragma once

#include <cstddef>
#include <string>

namespace diverge::plot {

// The colour of the i-th series: Okabe and Ito's palette, distinguishable under the common colour-vision
// deficiencies. It has 8 colours; series 8 and later reuse them (line charts then add dashes, see series_dash).
std::string series_color(std::size_t index);

// The stroke-dasharray of the i-th series: "none" for the first round of colours, then dashes so that series
// sharing a colour remain distinct.
std::string series_dash(std::size_t index);

// Viridis (perceptually uniform, readable in grey and by colour-blind readers) at t in [0, 1] as "#rrggbb";
// t outside [0, 1] is clamped to the ends.
std::string viridis(double t);

// Whether text drawn over viridis(t) should be white rather than black to stay readable.
bool viridis_is_dark(double t);

}  // namespace diverge::plot
