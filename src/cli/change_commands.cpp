#include "cli/change_commands.hpp"

#include <CLI/CLI.hpp>
#include <chrono>
#include <filesystem>

#include "cli/files.hpp"
#include "config/loader.hpp"
#include "core/duration.hpp"
#include "core/error.hpp"
#include "run/runner.hpp"

namespace ferry::cli {

namespace {
void add_wait_options(CLI::App& sub, ChangeOptions& o) {
  sub.add_option("--wait-lock", o.wait_lock, "wait up to DURATION for another run's lock (then exit 3)");
  sub.add_option("--wait-ready", o.wait_ready, "retry connecting for up to DURATION while the database starts");
}

// --wait-lock / --wait-ready values: durations like 30s, 5m.
Millis wait_option(const std::string& flag, const std::string& text) {
  if (text.empty()) return Millis(0);
  auto d = parse_duration(text);
  if (!d) throw Error(ErrorKind::Config, flag + " must be a duration like 30s, 5m or 1h, found '" + text + "'");
  return *d;
}

// The state directory and --report file, checked before anything runs.
void prepare_files(const Globals& g, const ChangeContext& c, const std::string& report_file) {
  prepare_state_dir(g.state_dir, c.own_state_dir);
  if (!report_file.empty()) prepare_report_file(report_file);
}

// What run::RunOptions and run::RollbackOptions share, from the globals and the flags.
template <class Options>
Options common_options(const Globals& g, const ChangeContext& c, const ChangeOptions& o) {
  Options r;
  r.state_dir = g.state_dir;
  r.report_file = o.report_file;
  r.command_line = c.command_line;
  r.color = g.color;
  r.quiet = g.quiet;
  r.wait_lock = wait_option("--wait-lock", o.wait_lock);
  r.wait_ready = wait_option("--wait-ready", o.wait_ready);
  r.metrics_file = c.metrics_file;
  return r;
}
// Fleet stages start one `ferry run` per database: these flags of ours go to each.
std::vector<std::string> child_flags(const std::string& wait_lock, const std::string& wait_ready,
                                     const std::string& state_dir) {
  std::vector<std::string> f = {"--state-dir", state_dir};
  if (!wait_lock.empty()) f.insert(f.end(), {"--wait-lock", wait_lock});
  if (!wait_ready.empty()) f.insert(f.end(), {"--wait-ready", wait_ready});
  return f;
}

// run's fleet flags into the options a fleet stage reads.
void fleet_run_options(const Globals& g, const ChangeOptions& o, run::RunOptions& r) {
  r.fleet.resume = o.fleet.resume;
  r.fleet.only = split_names(o.fleet.only);
  r.fleet.exclude = split_names(o.fleet.exclude);
  r.fleet.shard = o.fleet.shard;
  r.fleet.json = o.fleet.json;
  r.fleet.root = std::filesystem::absolute(g.root).string();
  r.fleet.child_flags = child_flags(o.wait_lock, o.wait_ready, std::filesystem::absolute(g.state_dir).string());
  if (o.fleet.json) r.quiet = true;
}
}  // namespace

void add_run_command(CLI::App& app, ChangeOptions& o) {
  o.run = app.add_subcommand("run", "run a playbook: backup, migrate, verify, restart, health; roll back on failure");
  o.run->add_option("PLAYBOOK", o.playbook, "a playbook name under playbooks/, or a path")->required();
  o.run->add_option("--env", o.only_env, "only this stage");
  o.run->add_flag("--yes", o.yes, "confirm protected environments");
  o.run->add_option("--report", o.report_file, "write the whole run as JSON to FILE");
  add_wait_options(*o.run, o);
}

void add_backup_command(CLI::App& app, ChangeOptions& o) {
  o.backup = app.add_subcommand("backup", "take a verified backup now (or pin/unpin one, or verify one)");
  o.backup->add_option("ENV", o.env, "environment");  // required unless a subcommand follows
  o.backup->add_flag("--json", o.json, "print the backup taken as JSON (docs/json.md); the console stays quiet");
  o.backup->add_option("--report", o.report_file, "write the backup's events as JSON to FILE");
  add_pin_commands(*o.backup, o.pin);
  o.verify = add_drill_command(*o.backup, o.drill);
  add_wait_options(*o.backup, o);
}

void add_rollback_command(CLI::App& app, ChangeOptions& o) {
  auto* rb = o.rollback = app.add_subcommand("rollback", "emergency rollback: down to a version, or restore a backup");
  rb->add_option("ENV", o.env, "environment")->required();
  auto* to_opt = rb->add_option("--to", o.to_version, "run stored down SQL down to VERSION");
  auto* bk_opt =
      rb->add_option("--backup", o.backup_id, "restore backup ID, 'latest', 'before:VERSION' or 'before-run:RUN_ID'");
  to_opt->excludes(bk_opt);
  rb->add_flag("--yes", o.yes, "confirm a protected environment");
  rb->add_flag("--no-restart", o.no_restart, "do not restart services afterwards");
  rb->add_flag("--dry-run", o.dry_run, "show the plan and change nothing (exit 0, or 3 when it would be refused)");
  rb->add_flag("--allow-newer-backup", o.allow_newer_backup,
               "on a protected environment, restore a backup taken after the newest change");
  rb->add_flag("--json", o.json, "the plan and outcome as one JSON document on stdout");
  rb->add_option("--report", o.report_file, "write the plan and outcome as JSON to FILE");
  add_wait_options(*rb, o);
}

void check_wait_options(const ChangeOptions& o) {
  wait_option("--wait-lock", o.wait_lock);
  wait_option("--wait-ready", o.wait_ready);
}

std::set<std::string> touched_environments(const std::string& root, const ChangeOptions& o) {
  auto shape = config::load_project(root, std::set<std::string>{});
  std::set<std::string> envs;
  std::optional<std::string> only = o.run->parsed() ? o.only_env : std::optional<std::string>(o.env);
  if (only) {
    envs.insert(*only);
  } else {
    auto pb = config::load_playbook(shape, o.playbook);
    envs.insert(pb.stages.begin(), pb.stages.end());
  }
  return config::with_requirements(shape, envs);
}

int cmd_run(const Globals& g, const ChangeContext& c, const config::Project& project, const ChangeOptions& o) {
  auto r = common_options<run::RunOptions>(g, c, o);
  auto pb = config::load_playbook(project, o.playbook);
  prepare_files(g, c, o.report_file);
  r.only_env = o.only_env;
  r.yes = o.yes;
  r.verbose = g.verbose;
  fleet_run_options(g, o, r);
  return run::run_playbook(project, pb, r);
}

int cmd_backup(const Globals& g, const ChangeContext& c, const config::Project& project, const ChangeOptions& o) {
  auto r = common_options<run::RunOptions>(g, c, o);
  prepare_files(g, c, o.report_file);
  r.quiet = g.quiet || o.json;
  std::string taken;
  r.taken_backup_id = &taken;
  auto started = std::chrono::steady_clock::now();
  int code = run::backup_environment(project, o.env, r);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  if (o.json) print_backup_json(project, o.env, taken, code, ms.count());
  return code;
}

int cmd_rollback(const Globals& g, const ChangeContext& c, const config::Project& project, const ChangeOptions& o) {
  auto r = common_options<run::RollbackOptions>(g, c, o);
  if (!o.to_version && !o.backup_id)
    throw Error(ErrorKind::Config, "rollback needs --to VERSION or --backup ID|latest");
  prepare_files(g, c, o.report_file);
  r.dry_run = o.dry_run;
  r.allow_newer_backup = o.allow_newer_backup;
  r.json = o.json;
  r.env = o.env;
  r.to_version = o.to_version;
  r.backup_id = o.backup_id;
  r.yes = o.yes;
  r.no_restart = o.no_restart;
  return run::rollback_environment(project, r);
}

}  // namespace ferry::cli
