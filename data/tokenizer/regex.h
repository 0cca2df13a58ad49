// A PCRE2 pattern compiled once (UTF, UCP, invalid UTF-8 allowed, JIT when available) and shared by threads.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace diverge::data {

// Per-thread matching state (PCRE2 match data, match context, JIT stack): a Regex is shared, this is not.
class RegexScratch {
 public:
  RegexScratch();
  ~RegexScratch();
  RegexScratch(const RegexScratch&) = delete;
  RegexScratch& operator=(const RegexScratch&) = delete;

 private:
  friend class Regex;
  void* match_data_;
  void* match_context_;
  void* jit_stack_;
};

class Regex {
 public:
  // Compiles pattern (or, with literal, the exact string); a bad pattern throws Error(where, why and at which offset).
  Regex(std::string_view pattern, bool literal, std::string_view where);
  ~Regex();
  Regex(Regex&& other) noexcept;
  Regex& operator=(Regex&& other) noexcept;
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Finds the first non-empty match starting at or after `from`; false when there is none. Bytes of invalid UTF-8
  // never match, so the text may be arbitrary bytes.
  bool next_match(std::string_view text, std::size_t from, std::size_t& begin, std::size_t& end,
                  RegexScratch& scratch) const;

  const std::string& pattern() const { return pattern_; }

 private:
  std::string pattern_;
  void* code_ = nullptr;
  bool jit_ = false;
};

// Calls piece(std::string_view) for every match of regex in text and for every run of bytes between matches, in
// order: the pieces concatenate to text exactly (HF's "Isolated" split; tiktoken's findall plus the gaps).
template <class OnPiece>
void split_isolated(const Regex& regex, std::string_view text, RegexScratch& scratch, OnPiece&& piece) {
  std::size_t done = 0;
  std::size_t begin = 0;
  std::size_t end = 0;
  while (done < text.size() && regex.next_match(text, done, begin, end, scratch)) {
    if (begin > done) piece(text.substr(done, begin - done));
    piece(text.substr(begin, end - begin));
    done = end;
  }
  if (done < text.size()) piece(text.substr(done));
}

}  // namespace diverge::data
