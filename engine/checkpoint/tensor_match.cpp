// Expected-versus-file tensor checks, first mismatch first, and AdamW state naming.
#include "engine/checkpoint/tensor_match.h"

#include <set>

#include "engine/error.h"

namespace diverge {
namespace {

std::string spec_text(const TensorSpec& spec) {
  return std::string(safe_dtype_name(spec.dtype)) + " " + shape_text(spec.shape);
}

}  // namespace

void check_tensors_match(const SafetensorsFile& file, std::span<const TensorSpec> expected, std::string_view where) {
  const SafetensorsFile* const files[] = {&file};
  check_tensors_match(files, expected, where);
}

void check_tensors_match(std::span<const SafetensorsFile* const> files, std::span<const TensorSpec> expected,
                         std::string_view where) {
  const auto in_file = [](const SafetensorsFile& file) { return " in " + file.path().filename().string(); };
  std::set<std::string_view> expected_names;
  for (const auto& want : expected) {
    expected_names.insert(want.name);
    const SafetensorsFile* holder = nullptr;
    for (const SafetensorsFile* file : files) {
      if (file->find(want.name) == nullptr) continue;
      if (holder != nullptr)
        throw Error(where, want.name + ": both" + in_file(*holder) + " and" + in_file(*file) +
                               " (each tensor is stored once)");
      holder = file;
    }
    check(holder != nullptr, where,
          want.name + ": missing" + in_file(*files.front()) + (files.size() > 1 ? " and its expert shards" : "") +
              " (the config expects " + spec_text(want) + ")");
    const TensorEntry* have = holder->find(want.name);
    check(have->dtype == want.dtype, where,
          want.name + ": dtype " + std::string(safe_dtype_name(have->dtype)) + in_file(*holder) + ", " +
              std::string(safe_dtype_name(want.dtype)) + " expected by the config");
    check(have->shape == want.shape, where,
          want.name + ": shape " + shape_text(have->shape) + in_file(*holder) + ", " + shape_text(want.shape) +
              " expected by the config");
  }
  for (const SafetensorsFile* file : files)
    for (const auto& have : file->tensors())
      check(expected_names.contains(have.name), where,
            have.name + ": " + spec_text(have) + in_file(*file) + " is not a tensor the config expects");
}

std::string exp_avg_name(std::string_view param) { return std::string(param) + ".exp_avg"; }

std::string exp_avg_sq_name(std::string_view param) { return std::string(param) + ".exp_avg_sq"; }

std::vector<TensorSpec> adamw_state_specs(std::span<const TensorSpec> params) {
  std::vector<TensorSpec> specs;
  specs.reserve(2 * params.size());
  for (const auto& p : params) {
    specs.push_back({exp_avg_name(p.name), SafeDtype::f32, p.shape});
    specs.push_back({exp_avg_sq_name(p.name), SafeDtype::f32, p.shape});
  }
  return specs;
}

}  // namespace diverge
