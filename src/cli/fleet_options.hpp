// The command-line side of fleets: --database on the commands that act on one database, and
// run's --resume, --only, --exclude, --shard and --json.
#pragma once
#include <CLI/CLI.hpp>
#include <optional>
#include <string>

#include "config/model.hpp"

namespace ferry::cli {

struct FleetOptions {
  std::optional<std::string> database;  // --database NAME
  std::optional<std::string> resume;    // run --resume RUN_ID
  std::string only, exclude, shard;     // run --only a,b  --exclude a,b  --shard I/N
  bool json = false;                    // run --json
};

// --database on each of `subs`; the selection flags on `run` and `plan`; --resume and --json on `run`.
void add_fleet_options(CLI::App* run, CLI::App* plan, const std::vector<CLI::App*>& subs, FleetOptions& o);

// "a,b,,c" -> {a, b, c}: the names of --only and --exclude.
std::vector<std::string> split_names(const std::string& list);

// With --database, replaces the environment `env` of `project` by that member's
// (run::select_member). Without it, a fleet environment is refused (Error(Config)) when
// `needs_one`: the command acts on exactly one database.
void select_database(config::Project& project, const std::string& env, const std::optional<std::string>& database,
                     bool needs_one);

}  // namespace ferry::cli
