// Time stamps on the compute stream's clock (CUDA events), for the step profile: host-only declarations.
#pragma once

#include <cstddef>

namespace diverge::cuda {

// Records a stamp on the compute stream after everything queued so far; returns its index since the last reset.
std::size_t stamp();
// Waits for the stream, then gives the seconds between stamps `from` and `to` (from < to, both since the last reset).
double seconds_between_stamps(std::size_t from, std::size_t to);
// Forgets the stamps (their events are kept for reuse).
void reset_stamps();

}  // namespace diverge::cuda
