// Bounded quoting: a writer that escapes as it goes and stops at its byte budget.
#include "engine/json/json_quote.h"

#include <cstdio>

namespace diverge {
namespace {

// Length of the well-formed UTF-8 sequence that starts text[i], or 0 when the byte starts none.
std::size_t utf8_sequence_length(std::string_view text, std::size_t i) {
  const auto lead = static_cast<unsigned char>(text[i]);
  const std::size_t length = lead < 0x80           ? 1
                             : (lead >> 5) == 0x6  ? 2
                             : (lead >> 4) == 0xe  ? 3
                             : (lead >> 3) == 0x1e ? 4
                                                   : 0;
  if (length == 0 || i + length > text.size()) return 0;
  for (std::size_t k = 1; k < length; ++k)
    if ((static_cast<unsigned char>(text[i + k]) >> 6) != 0x2) return 0;
  return length;
}

std::string escaped_byte(unsigned char c) {
  switch (c) {
    case '\n': return "\\n";
    case '\r': return "\\r";
    case '\t': return "\\t";
    default: break;
  }
  char code[8];
  std::snprintf(code, sizeof code, c < 0x80 ? "\\u%04x" : "\\x%02x", c);
  return code;
}

// Appends pieces until the next one would pass the budget; a piece (an escape, a UTF-8 character) is never split.
class BoundedText {
 public:
  explicit BoundedText(std::size_t limit) : limit_(limit) {}

  bool put(std::string_view piece) {
    if (cut_ || out_.size() + piece.size() > limit_) {
      cut_ = true;
      return false;
    }
    out_ += piece;
    return true;
  }

  // text with control characters and stray bytes escaped; in_json also escapes the quote and the backslash.
  bool put_escaped(std::string_view text, bool in_json) {
    for (std::size_t i = 0; i < text.size();) {
      const std::size_t length = utf8_sequence_length(text, i);
      const bool written = length == 0  ? put(escaped_byte(static_cast<unsigned char>(text[i])))
                           : length > 1 ? put(text.substr(i, length))
                                        : put_ascii(text[i], in_json);
      if (!written) return false;
      i += length == 0 ? 1 : length;
    }
    return true;
  }

  std::string finish() && {
    if (cut_) out_ += "...";
    return std::move(out_);
  }

 private:
  bool put_ascii(char c, bool in_json) {
    if (in_json && (c == '"' || c == '\\')) return put(std::string{'\\', c});
    if (c < 0x20 || c == 0x7f) return put(escaped_byte(static_cast<unsigned char>(c)));
    return put(std::string_view(&c, 1));
  }

  std::size_t limit_;
  std::string out_;
  bool cut_ = false;
};

template <class BasicJson>
bool write_json(const BasicJson& value, BoundedText& out) {
  if (value.is_object()) {
    if (!out.put("{")) return false;
    bool first = true;
    for (auto it = value.begin(); it != value.end(); ++it) {
      if (!out.put(first ? "\"" : ",\"") || !out.put_escaped(it.key(), true) || !out.put("\":") ||
          !write_json(it.value(), out))
        return false;
      first = false;
    }
    return out.put("}");
  }
  if (value.is_array()) {
    if (!out.put("[")) return false;
    for (std::size_t i = 0; i < value.size(); ++i)
      if ((i > 0 && !out.put(",")) || !write_json(value[i], out)) return false;
    return out.put("]");
  }
  if (value.is_string())
    return out.put("\"") && out.put_escaped(value.template get_ref<const std::string&>(), true) && out.put("\"");
  if (value.is_null() || value.is_boolean() || value.is_number()) return out.put(value.dump());
  return out.put("<" + std::string(value.type_name()) + ">");
}

template <class BasicJson>
std::string quote_any_json(const BasicJson& value, std::size_t limit) {
  BoundedText out(limit);
  write_json(value, out);
  return std::move(out).finish();
}

}  // namespace

std::string quote_json(const nlohmann::json& value, std::size_t limit) { return quote_any_json(value, limit); }

std::string quote_json(const nlohmann::ordered_json& value, std::size_t limit) { return quote_any_json(value, limit); }

std::string brief_text(std::string_view text, std::size_t limit) {
  BoundedText out(limit);
  out.put_escaped(text, false);
  return std::move(out).finish();
}

}  // namespace diverge
