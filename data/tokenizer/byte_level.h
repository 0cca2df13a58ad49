// GPT-2's byte-level alphabet: the reversible map between the 256 bytes and printable Unicode code points.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace diverge::data {

// Code point that stands for byte b in byte-level vocabularies (GPT-2 encoder.json, HF ByteLevel).
char32_t byte_to_codepoint(std::uint8_t b);

// UTF-8 text of the byte-level alphabet for a byte string, e.g. " hello" -> "Ġhello".
std::string bytes_to_byte_level(std::string_view bytes);

// Inverse of bytes_to_byte_level; nullopt if the text holds a code point outside the 256-symbol alphabet or is not
// valid UTF-8.
std::optional<std::string> byte_level_to_bytes(std::string_view text);

}  // namespace diverge::data
