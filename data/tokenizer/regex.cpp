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

// Unicode's White_Space property as a class body. PCRE2's \s also matches U+180E MONGOLIAN VOWEL SEPARATOR (no longer
// a space since Unicode 6.3); tiktoken's and Hugging Face's regex engines do not, so patterns get this set instead.
constexpr std::string_view kWhiteSpace = R"(\t\n\x0B\f\r\x20\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000})";

// pattern with \s and \S spelled out as kWhiteSpace: [ws] and [^ws] outside brackets, the bare set inside them (\S
// inside brackets cannot be spelled so and is left to PCRE2).
std::string with_unicode_white_space(std::string_view pattern) {
  std::string out;
  out.reserve(pattern.size() + 64);
  bool in_class = false;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      char next = pattern[++i];
      if (next == 's') {
        out += in_class ? std::string(kWhiteSpace) : "[" + std::string(kWhiteSpace) + "]";
      } else if (next == 'S' && !in_class) {
        out += "[^" + std::string(kWhiteSpace) + "]";
      } else {
        out.push_back(c);
        out.push_back(next);
      }
      continue;
    }
    out.push_back(c);
    if (!in_class && c == '[') {
      in_class = true;
      // A ']' right after '[' or '[^' is a literal member, not the end of the class.
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') out.push_back(pattern[++i]);
      if (i + 1 < pattern.size() && pattern[i + 1] == ']') out.push_back(pattern[++i]);
    } else if (in_class && c == '[' && i + 1 < pattern.size() && pattern[i + 1] == ':') {
      std::size_t close = pattern.find(":]", i + 2);  // a POSIX class such as [:alpha:] inside brackets
      if (close != std::string_view::npos) {
        out.append(pattern.substr(i + 1, close + 1 - i));
        i = close + 1;
      }
    } else if (in_class && c == ']') {
      in_class = false;
    }
  }
  return out;
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
  // PCRE2 refuses UCP with LITERAL; an exact string needs no character classes anyway.
  std::uint32_t options = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | (literal ? PCRE2_LITERAL : PCRE2_UCP);
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  auto compile = [&](std::string_view text) {
    return pcre2_compile(reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), options, &error_code, &error_offset,
                         nullptr);
  };
  // The pattern as given is compiled first so that errors point into it; the rewrite only swaps \s for an
  // equivalent class, so when the original compiles the rewritten one does too.
  code_ = compile(pattern_);
  if (code_ == nullptr) {
    throw Error(where, "bad regex at offset " + std::to_string(error_offset) + ": " + pcre2_message(error_code));
  }
  if (std::string rewritten = literal ? pattern_ : with_unicode_white_space(pattern_); rewritten != pattern_) {
    pcre2_code_free(as_code(code_));
    code_ = compile(rewritten);
    if (code_ == nullptr) throw Error(where, "bad regex after rewriting \\s: " + pcre2_message(error_code));
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
