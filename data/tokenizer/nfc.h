// Unicode NFC normalisation of byte strings that may hold invalid UTF-8 (utf8proc on the valid runs only).
#pragma once

#include <string>
#include <string_view>

namespace diverge::data {

// Appends the NFC form of text to out: every maximal run of valid UTF-8 is normalised, every byte of an invalid
// sequence is copied unchanged (and separates the runs around it, which therefore never compose across it).
void append_nfc(std::string_view text, std::string& out);

// False when NFC certainly leaves text unchanged (every code point is below U+0300, the first combining mark), so
// callers can skip the copy for the common ASCII and Latin-1 case.
bool nfc_may_change(std::string_view text);

}  // namespace diverge::data
