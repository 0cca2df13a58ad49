// Iterating over the lines of a text file held in memory (rank files, merges files, JSONL input).
#pragma once

#include <cstddef>
#include <string_view>

namespace diverge::data {

// Calls on_line(line, line_number) for every non-empty line (1-based numbers, "\n" or "\r\n" endings stripped).
template <class OnLine>
void for_each_line(std::string_view text, OnLine&& on_line) {
  std::size_t line_number = 0;
  for (std::size_t at = 0; at < text.size();) {
    std::size_t eol = text.find('\n', at);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(at, eol - at);
    at = eol + 1;
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty()) on_line(line, line_number);
  }
}

}  // namespace diverge::data
