// The Runner: stages in order; per stage the session (lock), the plan (drift, gate: run/stage_plan),
// the baseline, the steps through the saga (run/saga), and on failure their undo, newest first,
// then the proof that the environment equals its pre-run baseline. Returns the exit code of
// SPEC section 9.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "config/model.hpp"
#include "core/duration.hpp"
#include "db/ledger.hpp"
#include "report/reporter.hpp"

namespace ferry::run {

// How a fleet stage (run/fleet.hpp) picks and runs its databases.
struct FleetRunOptions {
  std::optional<std::string> resume;       // --resume RUN_ID
  std::vector<std::string> only, exclude;  // --only, --exclude
  std::string shard;                       // --shard I/N ("" = all)
  bool json = false;                       // --json: the results on stdout
  std::string root;                        // the project, for the per-database children
  std::vector<std::string> child_flags;    // global flags the children get (--wait-lock ...)
};

struct RunOptions {
  std::optional<std::string> only_env;
  bool yes = false;
  std::string report_file;
  std::string state_dir;
  std::string command_line;  // recorded in ferry.runs (no secrets: argv holds none)
  bool color = false;
  bool quiet = false;
  bool verbose = false;
  Millis wait_lock{0};       // --wait-lock: how long to wait for another run's lock (0: refuse at once)
  Millis wait_ready{0};      // --wait-ready: how long to retry connecting while the server starts
  std::string metrics_file;  // "" = none
  FleetRunOptions fleet;
  // `ferry backup`: set to the ID of the backup taken (for --json).
  std::string* taken_backup_id = nullptr;
};

int run_playbook(const config::Project& project, const config::Playbook& playbook, const RunOptions& opts);

struct RollbackOptions {
  std::string env;
  std::optional<std::string> to_version;
  std::optional<std::string> backup_id;  // an id, "latest", "before:VERSION" or "before-run:RUN_ID"
  bool yes = false;
  bool dry_run = false;             // show the plan, change nothing (exit 0, or 3 when it would be refused)
  bool allow_newer_backup = false;  // restore a backup taken after the newest change on a protected env
  bool json = false;                // the outcome as one JSON document on stdout
  std::string report_file;
  std::string metrics_file;  // "" = none
  bool no_restart = false;
  std::string state_dir;
  std::string command_line;
  bool color = false;
  bool quiet = false;
  Millis wait_lock{0};
  Millis wait_ready{0};
};

int rollback_environment(const config::Project& project, const RollbackOptions& opts);
int backup_environment(const config::Project& project, const std::string& env, const RunOptions& opts);

// Console (unless `console` is false: run --json) + journal (.ferry/runs/RUN_ID.jsonl) + optional --report
// file, behind one Fanout.
report::Fanout make_reporter(const config::Project& project, const std::string& run_id, const std::string& state_dir,
                             const std::string& report_file, bool color, bool quiet, bool verbose);

// Marks runs a killed ferry left 'running' as abandoned, and tells the operator about each.
void report_abandoned_runs(db::Ledger& ledger, report::Reporter& rep, const std::string& env);

// Helpers shared with the read-only commands (plan, status).
std::string operator_name();
std::string host_name();
std::string new_run_id();
// "refused: ..." when the protected environment is not confirmed; "" when it may proceed.
std::string confirm_protected(const config::Environment& env, bool yes);

}  // namespace ferry::run
