// "Did you mean ...?" for misspelled names: edit distance and the nearest candidate.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace diverge::config {

// Optimal-string-alignment distance: single-character insertions, deletions, substitutions and swaps of two
// neighbours (the commonest typo: "modle").
std::size_t edit_distance(std::string_view a, std::string_view b);

// The candidate nearest to word, when near enough to be a likely typo: at most (|word| - 1) / 3 edits away, so
// words of three letters or fewer get no guess ("gpu" is not a typo of "cpu"). "" when none is near; ties go to
// the earlier candidate.
std::string closest_match(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace diverge::config
