// The commands that change an environment: `ferry run`, `ferry backup ENV` and `ferry rollback`
// (their flags, the project they load, and the call into run/).
#pragma once

#include <optional>
#include <set>
#include <string>

#include "cli/backup_commands.hpp"
#include "cli/commands.hpp"
#include "cli/drill_command.hpp"
#include "cli/fleet_options.hpp"
#include "config/model.hpp"

namespace CLI {
class App;
}

namespace ferry::cli {

// What every changing command shares beyond the globals.
struct ChangeContext {
  bool own_state_dir = false;  // ROOT/.ferry, tightened when it exists
  std::string metrics_file;    // --metrics-file, "" = none
  std::string command_line;    // recorded in ferry.runs
};

struct ChangeOptions {
  CLI::App* run = nullptr;
  CLI::App* backup = nullptr;
  CLI::App* rollback = nullptr;
  std::string playbook;                 // run
  std::optional<std::string> only_env;  // run --env
  std::string env;                      // backup ENV, rollback ENV
  bool yes = false, json = false;
  std::string report_file, wait_lock, wait_ready;
  std::optional<std::string> to_version, backup_id;  // rollback --to, --backup
  bool no_restart = false, dry_run = false, allow_newer_backup = false;
  PinOptions pin;      // backup pin|unpin
  DrillOptions drill;  // backup verify
  CLI::App* verify = nullptr;
  FleetOptions fleet;  // --database (run, backup, rollback and the read-only commands), run's fleet flags
};

// Each registers its subcommand and flags on `app`, filling `o`.
void add_run_command(CLI::App& app, ChangeOptions& o);
void add_backup_command(CLI::App& app, ChangeOptions& o);
void add_rollback_command(CLI::App& app, ChangeOptions& o);

// Throws Error(Config) for a --wait-lock / --wait-ready that is not a duration (checked before
// any file is read).
void check_wait_options(const ChangeOptions& o);

// The environments whose ${VAR} and password_file the parsed command resolves: the playbook's
// stages (or --env) and what their gates read, or the one ENV.
std::set<std::string> touched_environments(const std::string& root, const ChangeOptions& o);

// Run once `run`, `backup ENV` or `rollback` was parsed, with the project loaded for them.
int cmd_run(const Globals& g, const ChangeContext& c, const config::Project& project, const ChangeOptions& o);
int cmd_backup(const Globals& g, const ChangeContext& c, const config::Project& project, const ChangeOptions& o);
int cmd_rollback(const Globals& g, const ChangeContext& c, const config::Project& project, const ChangeOptions& o);

}  // namespace ferry::cli
