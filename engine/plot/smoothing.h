// Smoothing of noisy training curves by a bias-corrected exponential moving average.
#pragma once

#include <vector>

namespace diverge::plot {

// The exponential moving average with the given weight in [0, 1) (0: no smoothing, 0.9: about ten points of
// memory), bias-corrected as TensorBoard does so the curve starts at the data rather than at zero.
// Non-finite inputs stay NaN in the output and do not disturb the average.
std::vector<double> ema_smooth(const std::vector<double>& values, double weight);

}  // namespace diverge::plot
