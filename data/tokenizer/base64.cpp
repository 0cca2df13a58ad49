// Base64 decoding with strict validation: every malformed rank-file token is reported, never guessed at.
#include "data/tokenizer/base64.h"

#include <array>
#include <cstdint>

namespace diverge::data {

namespace {

constexpr std::int8_t kInvalid = -1;

const std::array<std::int8_t, 256>& symbol_values() {
  static const std::array<std::int8_t, 256> values = [] {
    std::array<std::int8_t, 256> v{};
    v.fill(kInvalid);
    constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (std::size_t i = 0; i < alphabet.size(); ++i) v[static_cast<unsigned char>(alphabet[i])] = static_cast<std::int8_t>(i);
    return v;
  }();
  return values;
}

}  // namespace

std::optional<std::string> decode_base64(std::string_view text) {
  if (text.empty() || text.size() % 4 != 0) return std::nullopt;
  std::size_t padding = 0;
  if (text.back() == '=') padding = text[text.size() - 2] == '=' ? 2 : 1;
  const auto& values = symbol_values();
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    bool last_group = i + 4 == text.size();
    std::size_t symbols = last_group ? 4 - padding : 4;
    std::uint32_t group = 0;
    for (std::size_t k = 0; k < 4; ++k) {
      std::int8_t value = 0;
      if (k < symbols) {
        value = values[static_cast<unsigned char>(text[i + k])];
        if (value == kInvalid) return std::nullopt;
      }
      group = (group << 6) | static_cast<std::uint32_t>(value);
    }
    std::size_t bytes = symbols - 1;
    // Canonical form: the bits a padded group drops must be zero.
    if (bytes < 3 && (group & ((1u << (8 * (3 - bytes))) - 1)) != 0) return std::nullopt;
    for (std::size_t k = 0; k < bytes; ++k) out.push_back(static_cast<char>((group >> (16 - 8 * k)) & 0xFF));
  }
  return out;
}

}  // namespace diverge::data
