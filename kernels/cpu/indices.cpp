// Index validation: a bad token id or expert choice is reported by position instead of reading out of bounds.
#include "kernels/cpu/indices.h"

#include <string>

#include "engine/error.h"

namespace diverge::cpu {

void check_indices(const char* op, const char* what, const std::int32_t* indices, std::int64_t count,
                   std::int64_t bound, std::int32_t ignore) {
  for (std::int64_t i = 0; i < count; ++i) {
    const std::int32_t index = indices[i];
    if ((index < 0 || index >= bound) && !(ignore != 0 && index == ignore)) {
      throw Error(op, std::string(what) + " " + std::to_string(index) + " at position " + std::to_string(i) +
                          " is outside [0, " + std::to_string(bound) + ")");
    }
  }
}

}  // namespace diverge::cpu
