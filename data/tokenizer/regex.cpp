// PCRE2 wrapper for pre-tokenizer patterns: compile + JIT once, match with per-thread scratch, skip empty matches.
#include "data/tokenizer/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <string>

#include "engine/error.h"

namespace diverge::data {

namespace {

// Start and maximum size of each thread's JIT stack: patterns with lookahead over long whitespace runs need more
// than PCRE2's 32 KiB default.
constexpr std::size_t kJitStackStart = 64 * 1024;
constexpr std::size_t kJitStackMax = 8 * 1024 * 1024;

pcre2_code* as_code(void* p) { return static_cast<pcre2_code*>(p); }

std::string pcre2_message(int code) {
  PCRE2_UCHAR buffer[256];
  int n = pcre2_get_error_message(code, buffer, sizeof(buffer));
  if (n < 0) return "PCRE2 error " + std::to_string(code);
  return std::string(reinterpret_cast<const char*>(buffer), static_cast<std::size_t>(n));
}

// The position one character after at: past the byte there and its continuation bytes, so that stepping over an
// empty match never lands inside a character nor skips a byte that could start one.
std::size_t next_character(std::string_view text, std::size_t at) {
  std::size_t next = at + 1;
  while (next < text.size() && next < at + 4 && (static_cast<unsigned char>(text[next]) & 0xC0) == 0x80) ++next;
  return next;
}

}  // namespace

RegexScratch::RegexScratch()
    : match_data_(pcre2_match_data_create(1, nullptr)),
      match_context_(pcre2_match_context_create(nullptr)),
      jit_stack_(pcre2_jit_stack_create(kJitStackStart, kJitStackMax, nullptr)) {
  if (match_data_ == nullptr || match_context_ == nullptr) throw Error("pcre2", "out of memory for match data");
  if (jit_stack_ != nullptr) {
    pcre2_jit_stack_assign(static_cast<pcre2_match_context*>(match_context_), nullptr,
                           static_cast<pcre2_jit_stack*>(jit_stack_));
  }
}

RegexScratch::~RegexScratch() {
  pcre2_match_data_free(static_cast<pcre2_match_data*>(match_data_));
  pcre2_match_context_free(static_cast<pcre2_match_context*>(match_context_));
  if (jit_stack_ != nullptr) pcre2_jit_stack_free(static_cast<pcre2_jit_stack*>(jit_stack_));
}

Regex::Regex(std::string_view pattern, bool literal, std::string_view where) : pattern_(pattern) {
  std::uint32_t options = PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF;
  if (literal) options |= PCRE2_LITERAL;
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern_.data()), pattern_.size(), options, &error_code,
                        &error_offset, nullptr);
  if (code_ == nullptr) {
    throw Error(where, "bad regex at offset " + std::to_string(error_offset) + ": " + pcre2_message(error_code));
  }
  // Without JIT (an unsupported CPU) matching falls back to the interpreter: slower, same results.
  jit_ = pcre2_jit_compile(as_code(code_), PCRE2_JIT_COMPLETE) == 0;
}

Regex::~Regex() {
  if (code_ != nullptr) pcre2_code_free(as_code(code_));
}

Regex::Regex(Regex&& other) noexcept
    : pattern_(std::move(other.pattern_)), code_(other.code_), jit_(other.jit_) {
  other.code_ = nullptr;
}

Regex& Regex::operator=(Regex&& other) noexcept {
  if (this != &other) {
    if (code_ != nullptr) pcre2_code_free(as_code(code_));
    pattern_ = std::move(other.pattern_);
    code_ = other.code_;
    jit_ = other.jit_;
    other.code_ = nullptr;
  }
  return *this;
}

bool Regex::next_match(std::string_view text, std::size_t from, std::size_t& begin, std::size_t& end,
                       RegexScratch& scratch) const {
  auto* match_data = static_cast<pcre2_match_data*>(scratch.match_data_);
  auto* context = static_cast<pcre2_match_context*>(scratch.match_context_);
  auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  while (from < text.size()) {
    int rc = jit_ ? pcre2_jit_match(as_code(code_), subject, text.size(), from, 0, match_data, context)
                  : pcre2_match(as_code(code_), subject, text.size(), from, 0, match_data, context);
    if (rc == PCRE2_ERROR_NOMATCH) return false;
    if (rc < 0) {
      throw Error("pre-tokenizer regex", "matching failed at byte " + std::to_string(from) + ": " + pcre2_message(rc));
    }
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match_data);
    if (ovector[1] > ovector[0]) {
      begin = ovector[0];
      end = ovector[1];
      return true;
    }
    // An empty match covers nothing: search again one character further on.
    if (ovector[0] >= text.size()) return false;
    from = next_character(text, ovector[0]);
  }
  return false;
}

}  // namespace diverge::data
