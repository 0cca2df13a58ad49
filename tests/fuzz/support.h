// What the fuzz harnesses share: a scratch directory for readers that take files, splitting an input in two, and
// the rule that a refusal is a one-line Error.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <string_view>
#include <utility>

namespace diverge::fuzz {

namespace fs = std::filesystem;

// Longest message a refusal may have: a file path and one line of explanation, with any quoted value cut short.
inline constexpr std::size_t kMaxMessageBytes = 1000;

// A directory of this process's own (in /dev/shm when there is one), removed at exit.
const fs::path& scratch_dir();

// Writes bytes to path, replacing it.
void write_bytes(const fs::path& path, std::string_view bytes);

// The bytes before the first '\0' and those after it (empty when there is none).
std::pair<std::string_view, std::string_view> split_at_nul(std::string_view data);

// A vocabulary of two files from one input: the bytes before the first '\0' become scratch_dir()/dir/first, those
// after it dir/second, which is absent when the input has no '\0'. Returns the path of first.
fs::path write_file_pair(std::string_view data, std::string_view dir, std::string_view first,
                         std::string_view second);

// Runs read(). A diverge::Error it throws is a refusal and ends the run quietly when its message is one line of at
// most kMaxMessageBytes; otherwise it becomes a std::logic_error, a finding.
void refusals_are_errors(const std::function<void()>& read);

// A property the harness checks once a reader has accepted an input; throws std::logic_error(what) when it fails.
void require(bool holds, std::string_view what);

}  // namespace diverge::fuzz
