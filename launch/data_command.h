// The `diverge data` command group, shared by the files that each add one `data` subcommand.
#pragma once

#include <CLI/CLI.hpp>

namespace diverge::cli {

// Returns the `data` subcommand of root, creating it on first use: registrars run in an unspecified file order, so
// whichever `data` subcommand comes first creates the group.
inline CLI::App& data_command(CLI::App& root) {
  auto existing = root.get_subcommands([](CLI::App* app) { return app->get_name() == "data"; });
  if (!existing.empty()) return *existing.front();
  auto* data = root.add_subcommand("data", "Look into a prepared corpus: `data inspect`, `data verify`");
  data->require_subcommand(1);
  return *data;
}

}  // namespace diverge::cli
