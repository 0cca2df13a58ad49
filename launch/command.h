// Subcommand registry: each launch/cmd_*.cpp adds its CLI11 subcommand through a static Registrar.
#pragma once

#include <CLI/CLI.hpp>

#include <exception>
#include <functional>
#include <string>
#include <vector>

namespace diverge::cli {

// A subcommand's setup: adds itself (options, callback) to the root app. Callbacks throw diverge::Error on bad
// input; main() prints the message as one line and exits 1.
using CommandSetup = std::function<void(CLI::App& root)>;

struct RegisteredCommand {
  int order;  // position in --help, so the list reads in workflow order
  CommandSetup setup;
};

std::vector<RegisteredCommand>& registered_commands();

// The command line this process was started with, its arguments joined by spaces (main sets it): what a report
// records as the command that made it.
std::string& command_line();

struct Registrar {
  Registrar(int order, CommandSetup setup) { registered_commands().push_back({order, std::move(setup)}); }
};

// A flag that takes a whole number >= min: "-1" is refused as "must be a whole number >= 0 (got -1)", where
// CLI11's own range checks print their bounds as 300-digit doubles.
inline CLI::Validator whole_number_at_least(long long min) {
  return CLI::Validator(
      [min](std::string& text) -> std::string {
        long long value = 0;
        std::size_t used = 0;
        try {
          value = std::stoll(text, &used);
        } catch (const std::exception&) {
          used = 0;
        }
        if (used == 0 || used != text.size() || value < min)
          return "must be a whole number >= " + std::to_string(min) + " (got " + text.substr(0, 40) + ")";
        return {};
      },
      "INT>=" + std::to_string(min));
}

}  // namespace diverge::cli
