// Standard base64 (RFC 4648, with padding) decoding for tiktoken rank files.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace diverge::data {

// The decoded bytes, or nullopt when text is not canonical padded base64 (bad symbol, bad length or padding).
std::optional<std::string> decode_base64(std::string_view text);

}  // namespace diverge::data
