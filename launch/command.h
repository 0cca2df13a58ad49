// Subcommand registry: each launch/cmd_*.cpp adds its CLI11 subcommand through a static Registrar.
#pragma once

#include <CLI/CLI.hpp>

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

struct Registrar {
  Registrar(int order, CommandSetup setup) { registered_commands().push_back({order, std::move(setup)}); }
};

}  // namespace diverge::cli
