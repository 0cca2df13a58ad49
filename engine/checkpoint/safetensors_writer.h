// Writes a safetensors file, laid out byte for byte as the reference implementation lays it out.
#pragma once

#include <filesystem>
#include <map>
#include <span>
#include <string>

#include "engine/checkpoint/durable_file.h"
#include "engine/checkpoint/tensor_spec.h"

namespace diverge {

namespace fs = std::filesystem;

// Writes the tensors (in any order: the file sorts them by element size, largest first, then by name) and the
// free-form metadata to path durably (temporary + fsync + rename). Returns the file's content hash and size.
// Error naming `where` (the path when empty; see DurableFile) for an empty, reserved ("__metadata__") or repeated
// name, a negative dimension, missing data for a non-empty tensor, or a failed write.
WrittenFile write_safetensors(const fs::path& path, std::span<const NamedTensor> tensors,
                              const std::map<std::string, std::string>& metadata = {}, std::string where = {});

}  // namespace diverge
