// Validation of integer index arrays (token ids, targets, expert choices) before kernels index memory with them.
#pragma once

#include <cstdint>

namespace diverge::cpu {

// Throws Error "<op>: <what> <value> at position <i> is outside [0, bound)" for the first bad index. `ignore` is a
// value that is allowed besides the range (the cross-entropy ignore index), or 0 when none is.
void check_indices(const char* op, const char* what, const std::int32_t* indices, std::int64_t count,
                   std::int64_t bound, std::int32_t ignore = 0);

}  // namespace diverge::cpu
