// GPT-2's byte-level alphabet (bytes_to_unicode): printable bytes map to themselves, the rest to U+0100 onwards.
#include "data/tokenizer/byte_level.h"

namespace diverge::data {

namespace {

struct ByteLevelTables {
  std::array<char32_t, 256> to_cp{};
  std::array<int, 512> from_cp{};  // code points used are < 0x144; -1 = not in the alphabet
  ByteLevelTables() {
    from_cp.fill(-1);
    int next = 0;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      char32_t cp = printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + next++);
      to_cp[static_cast<std::size_t>(b)] = cp;
      from_cp[cp] = b;
    }
  }
};

const ByteLevelTables& tables() {
  static const ByteLevelTables t;
  return t;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else {  // the alphabet stays below U+0800: two bytes suffice
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

}  // namespace

char32_t byte_to_codepoint(std::uint8_t b) { return tables().to_cp[b]; }

std::string bytes_to_byte_level(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) append_utf8(out, tables().to_cp[c]);
  return out;
}

std::optional<std::string> byte_level_to_bytes(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    auto c0 = static_cast<unsigned char>(text[i]);
    char32_t cp;
    if (c0 < 0x80) {
      cp = c0;
      i += 1;
    } else if ((c0 & 0xE0) == 0xC0 && i + 1 < text.size() && (static_cast<unsigned char>(text[i + 1]) & 0xC0) == 0x80) {
      cp = ((c0 & 0x1Fu) << 6) | (static_cast<unsigned char>(text[i + 1]) & 0x3Fu);
      i += 2;
    } else {
      return std::nullopt;
    }
    if (cp >= tables().from_cp.size() || tables().from_cp[cp] < 0) return std::nullopt;
    out.push_back(static_cast<char>(tables().from_cp[cp]));
  }
  return out;
}

}  // namespace diverge::data
