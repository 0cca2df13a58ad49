// Plot colours: the Okabe-Ito palette and a viridis table interpolated in sRGB.
#include "engine/plot/colors.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>

namespace diverge::plot {
namespace {

// Okabe & Ito (2008), ordered so the first colours differ most; yellow, weak on white, comes last.
constexpr std::array<const char*, 8> kOkabeIto = {"#0072B2", "#E69F00", "#009E73", "#D55E00",
                                                  "#CC79A7", "#56B4E9", "#000000", "#F0E442"};

constexpr std::array<const char*, 3> kDashes = {"none", "6,3", "2,2"};

struct Rgb {
  double r, g, b;
};

// Viridis (matplotlib, van der Walt & Smith) sampled at 11 evenly spaced points. The map is smooth, so linear
// interpolation between neighbours keeps it perceptually even without the full 256-entry table.
constexpr std::array<Rgb, 11> kViridis = {{{68, 1, 84},
                                           {72, 37, 118},
                                           {65, 68, 135},
                                           {53, 96, 141},
                                           {42, 120, 142},
                                           {33, 144, 140},
                                           {34, 168, 132},
                                           {67, 191, 113},
                                           {122, 209, 81},
                                           {187, 223, 39},
                                           {253, 231, 37}}};

Rgb viridis_rgb(double t) {
  const double clamped = std::isfinite(t) ? std::clamp(t, 0.0, 1.0) : 0.0;
  const double position = clamped * static_cast<double>(kViridis.size() - 1);
  const auto low = std::min(static_cast<std::size_t>(position), kViridis.size() - 2);
  const double f = position - static_cast<double>(low);
  const Rgb& a = kViridis[low];
  const Rgb& b = kViridis[low + 1];
  return {a.r + f * (b.r - a.r), a.g + f * (b.g - a.g), a.b + f * (b.b - a.b)};
}

}  // namespace

std::string series_color(std::size_t index) { return kOkabeIto[index % kOkabeIto.size()]; }

std::string series_dash(std::size_t index) { return kDashes[(index / kOkabeIto.size()) % kDashes.size()]; }

std::string viridis(double t) {
  const Rgb c = viridis_rgb(t);
  char buf[8];
  std::snprintf(buf, sizeof buf, "#%02X%02X%02X", static_cast<unsigned>(std::lround(c.r)),
                static_cast<unsigned>(std::lround(c.g)), static_cast<unsigned>(std::lround(c.b)));
  return buf;
}

bool viridis_is_dark(double t) {
  const Rgb c = viridis_rgb(t);
  // Relative luminance (Rec. 709 weights) of the sRGB values; viridis crosses mid-grey a little past t = 0.5.
  return 0.2126 * c.r + 0.7152 * c.g + 0.0722 * c.b < 128.0;
}

}  // namespace diverge::plot
