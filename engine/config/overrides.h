// Command-line overrides ("--set a.b=c") applied to a config document before it is parsed.
#pragma once

#include <string_view>

#include "engine/config/config.h"

namespace diverge::config {

// Sets section.key (or a path inside a JSON-valued key such as data.weights.coarse.code) in doc, creating the
// section or inner objects when missing. The value is parsed as JSON when it parses (numbers, true/false, null,
// arrays, objects, quoted strings), else taken as a plain string (cosine, runs/x). Throws
// Error("--set <assignment>", ...) for a missing '=', an empty path element, a path that names no config key, or
// a JSON value that breaks the strict reader's rules (engine/json/json_reader.h).
// Types and ranges are checked afterwards by Config::from_json, like any key of the file.
void apply_override(Json& doc, std::string_view assignment);

}  // namespace diverge::config
