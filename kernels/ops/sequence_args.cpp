// Shared checks of per-sequence routing arguments: sequences from domains, tokens per sequence from the mask.
#include "kernels/ops/sequence_args.h"

#include <string>

#include "engine/error.h"

namespace diverge::ops {

cpu::SequenceShape sequence_shape(const char* op, const Tensor& probs, const Tensor& mask, const Tensor& domains,
                                  std::int64_t labels) {
  check_arg(op, {"probs", probs}, DType::f32, 2);
  check_arg(op, {"domains", domains}, DType::i32, 1);
  const std::int64_t sequences = domains.dim(0);
  check(sequences > 0, std::string(op) + ": domains", "is empty: no sequences");
  std::int64_t tokens = 0;
  if (mask.empty()) {
    check(probs.dim(0) % sequences == 0, std::string(op) + ": probs",
          "its " + std::to_string(probs.dim(0)) + " rows do not split into " + std::to_string(sequences) +
              " sequences of equal length");
    tokens = probs.dim(0) / sequences;
  } else {
    check_arg(op, {"mask", mask}, DType::i32, 2);
    check_extent(op, {"mask", mask}, 0, sequences, "S, the sequences of domains");
    tokens = mask.dim(1);
    check_extent(op, {"probs", probs}, 0, sequences * tokens, "N = S * T, from the mask");
  }
  return {sequences, tokens, probs.dim(1), labels};
}

const std::int32_t* mask_data(const Tensor& mask) { return mask.empty() ? nullptr : data_of<std::int32_t>(mask); }

void check_optional_device(const char* op, Arg required, Arg optional) {
  if (!optional.tensor.empty()) common_device(op, {required, optional});
}

}  // namespace diverge::ops
