// NFC through utf8proc, applied run by run so that invalid UTF-8 bytes pass through untouched.
#include "data/tokenizer/nfc.h"

#include <utf8proc.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "engine/error.h"

namespace diverge::data {

namespace {

// A code point below U+0300 is its own NFC form and never the second half of a composition (those are combining
// marks and conjoining jamo, all above it), so a run made only of such code points is already NFC.
constexpr utf8proc_int32_t kFirstCombiningMark = 0x300;

// Length of the valid UTF-8 sequence at text[at], or 0 when the bytes there are not one.
std::size_t valid_sequence_length(std::string_view text, std::size_t at, utf8proc_int32_t& codepoint) {
  auto n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(text.data() + at),
                            static_cast<utf8proc_ssize_t>(text.size() - at), &codepoint);
  return n > 0 ? static_cast<std::size_t>(n) : 0;
}

void append_run_nfc(std::string_view run, bool may_change, std::string& out) {
  if (!may_change) {
    out.append(run);
    return;
  }
  utf8proc_uint8_t* normalized = nullptr;
  auto n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(run.data()), static_cast<utf8proc_ssize_t>(run.size()),
                        &normalized, static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  if (n < 0) throw Error("NFC normaliser", utf8proc_errmsg(n));
  out.append(reinterpret_cast<const char*>(normalized), static_cast<std::size_t>(n));
  std::free(normalized);
}

// The position of the first non-ASCII byte at or after `at` (text.size() if none), eight bytes at a time.
std::size_t skip_ascii(std::string_view text, std::size_t at) {
  constexpr std::uint64_t kHighBits = 0x8080808080808080ull;
  while (at + 8 <= text.size()) {
    std::uint64_t word;
    std::memcpy(&word, text.data() + at, sizeof(word));
    if ((word & kHighBits) != 0) break;
    at += 8;
  }
  while (at < text.size() && static_cast<unsigned char>(text[at]) < 0x80) ++at;
  return at;
}

// NFC of a window without ASCII inside it except possibly its first byte.
void append_window_nfc(std::string_view text, std::string& out) {
  std::size_t run_start = 0;
  bool run_may_change = false;
  std::size_t at = 0;
  while (at < text.size()) {
    if (static_cast<unsigned char>(text[at]) < 0x80) {
      ++at;
      continue;
    }
    utf8proc_int32_t codepoint = 0;
    std::size_t length = valid_sequence_length(text, at, codepoint);
    if (length > 0) {
      run_may_change = run_may_change || codepoint >= kFirstCombiningMark;
      at += length;
      continue;
    }
    append_run_nfc(text.substr(run_start, at - run_start), run_may_change, out);
    out.push_back(text[at]);
    ++at;
    run_start = at;
    run_may_change = false;
  }
  append_run_nfc(text.substr(run_start), run_may_change, out);
}

}  // namespace

void append_nfc(std::string_view text, std::string& out) {
  // Before an ASCII character NFC can always cut: ASCII characters never reorder and are never the second half of a
  // composition. So only the windows "ASCII character before non-ASCII bytes + those bytes" need utf8proc, which
  // keeps it off the long ASCII stretches of mixed text.
  std::size_t at = 0;
  while (at < text.size()) {
    std::size_t non_ascii = skip_ascii(text, at);
    if (non_ascii == text.size()) {
      out.append(text.substr(at));
      return;
    }
    std::size_t window = non_ascii > at ? non_ascii - 1 : at;  // the character before may take a combining mark
    out.append(text.substr(at, window - at));
    std::size_t end = non_ascii;
    while (end < text.size() && static_cast<unsigned char>(text[end]) >= 0x80) ++end;
    append_window_nfc(text.substr(window, end - window), out);
    at = end;
  }
}

bool nfc_may_change(std::string_view text) {
  for (std::size_t at = skip_ascii(text, 0); at < text.size(); at = skip_ascii(text, at)) {
    utf8proc_int32_t codepoint = 0;
    std::size_t length = valid_sequence_length(text, at, codepoint);
    if (length == 0) {
      ++at;
      continue;
    }
    if (codepoint >= kFirstCombiningMark) return true;
    at += length;
  }
  return false;
}

}  // namespace diverge::data
