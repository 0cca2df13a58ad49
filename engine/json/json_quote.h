// Quoting JSON values and raw text in one-line messages: a bounded prefix, never the whole value.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace diverge {

// How much of a bad value a message shows.
inline constexpr std::size_t kQuoteLimit = 60;

// The compact JSON text of value, cut after `limit` bytes with "..." when it is longer. The writer stops at the
// limit, so a huge or deeply nested value costs no more than its first `limit` bytes.
std::string quote_json(const nlohmann::json& value, std::size_t limit = kQuoteLimit);
std::string quote_json(const nlohmann::ordered_json& value, std::size_t limit = kQuoteLimit);

// Raw text (a token, a key, a line of a file) as a message shows it, without quotes: control characters and bytes
// that are not UTF-8 escaped (\n, \u001b, \xff), cut after `limit` bytes with "..." when it is longer.
std::string brief_text(std::string_view text, std::size_t limit = kQuoteLimit);

}  // namespace diverge
