// `ferry backup pin ENV ID` and `ferry backup unpin ENV ID`: a pinned backup is never pruned.
#pragma once

#include <string>

#include "cli/commands.hpp"
#include "config/model.hpp"

namespace CLI {
class App;
}

namespace ferry::cli {

struct PinOptions {
  std::string env;
  std::string id;
  CLI::App* pin = nullptr;
  CLI::App* unpin = nullptr;
};

// Adds `pin` and `unpin` under `backup` (whose ENV then is optional when one of them is given).
void add_pin_commands(CLI::App& backup, PinOptions& o);
// True when `pin` or `unpin` was parsed.
bool pin_parsed(const PinOptions& o);
int cmd_backup_pin(const Globals& g, const PinOptions& o);

// `ferry backup ENV --json`: {schema_version: 1, environment, outcome, exit_code, duration_ms,
// backup: {id, time, file, format, compression, size, sha256, version, fingerprint, run_id,
// verified, pinned} or null} on stdout (docs/json.md).
void print_backup_json(const config::Project& project, const std::string& env, const std::string& backup_id,
                       int exit_code, long long duration_ms);

}  // namespace ferry::cli
