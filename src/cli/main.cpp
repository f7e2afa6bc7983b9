#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <set>
#include <sstream>

#include "cli/backup_commands.hpp"
#include "cli/cli.hpp"
#include "cli/commands.hpp"
#include "cli/drill_command.hpp"
#include "cli/files.hpp"
#include "cli/help.hpp"
#include "cli/init_command.hpp"
#include "cli/ledger_commands.hpp"
#include "cli/lint_command.hpp"
#include "cli/schedule_command.hpp"
#include "cli/schema_command.hpp"
#include "cli/validate_command.hpp"
#include "config/loader.hpp"
#include "core/duration.hpp"
#include "core/error.hpp"
#include "ferry_version.hpp"
#include "log/log.hpp"
#include "run/runner.hpp"

namespace ferry::cli {

namespace {
int exit_for(ErrorKind k) {
  switch (k) {
    case ErrorKind::Config:
      return exit_code::k_usage;
    case ErrorKind::Refused:
      return exit_code::k_refused;
    default:
      return exit_code::k_failed_clean;
  }
}

// --color always|never|auto (default auto: a terminal, unless NO_COLOR or TERM=dumb).
bool use_color(bool no_color, const std::string& when) {
  if (when == "always") return true;
  if (no_color || when == "never" || std::getenv("NO_COLOR")) return false;
  const char* term = std::getenv("TERM");
  if (term && std::string(term) == "dumb") return false;
  return isatty(STDOUT_FILENO);
}

// --wait-lock / --wait-ready values: durations like 30s, 5m.
Millis wait_option(const std::string& flag, const std::string& text) {
  if (text.empty()) return Millis(0);
  auto d = parse_duration(text);
  if (!d) throw Error(ErrorKind::Config, flag + " must be a duration like 30s, 5m or 1h, found '" + text + "'");
  return *d;
}

// A command resolves ${VAR} and password_file only for what it acts on: the playbook's stages
// (or --env) and the environments their gates read, or the one ENV.
std::set<std::string> touched(const std::string& root, const std::string& playbook,
                              const std::optional<std::string>& only) {
  auto shape = config::load_project(root, std::set<std::string>{});
  std::set<std::string> envs;
  if (only) {
    envs.insert(*only);
  } else {
    auto pb = config::load_playbook(shape, playbook);
    envs.insert(pb.stages.begin(), pb.stages.end());
  }
  return config::with_requirements(shape, envs);
}

std::string joined_argv(int argc, char** argv) {
  std::string s = "ferry";
  for (int i = 1; i < argc; ++i) s += std::string(" ") + argv[i];
  return s;
}
}  // namespace

int main(int argc, char** argv) {
  // A consumer that dies (a full disk under a streamed backup) must show up as EPIPE and a
  // failed step, not kill ferry in the middle of a run.
  std::signal(SIGPIPE, SIG_IGN);
  CLI::App app{
      "ferry: carries PostgreSQL schema migrations from dev through staging to production,\n"
      "with a verified backup before every change and a proven rollback after any failure."};
  app.name("ferry");
  app.require_subcommand(1);
  app.fallthrough();  // global options are accepted after the command too (ferry status -v)
  Globals g;
  bool no_color = false;
  int verbosity = 0;
  bool quiet = false;
  log::Options log_options;
  std::string metrics_file;
  auto* root_opt = app.add_option(
      "-C,--project", g.root,
      "project directory (default: the nearest directory up from here with environments/ and playbooks/)");
  std::string color_when = "auto";
  app.add_option("--color", color_when, "colour: auto (a terminal), always or never")
      ->check(CLI::IsMember({"auto", "always", "never"}));
  app.add_option("--state-dir", g.state_dir, "where journals go (default: DIR/.ferry)");
  app.add_flag("--no-color", no_color, "never colour the output");
  app.add_flag("-v,--verbose", verbosity, "more detail; diagnostics on stderr (-vv: SQL statements too)");
  app.add_flag("-q,--quiet", quiet, "only failures and the final line");
  app.add_option("--log-file", log_options.file, "diagnostics log (rotating, 3 x 10 MB)");
  app.add_flag("--syslog", log_options.syslog, "diagnostics log to syslog too");
  app.add_option("--metrics-file", metrics_file, "write a Prometheus textfile after a run, backup or drill");
  app.set_version_flag("--version", FERRY_VERSION_STRING);  // version, git commit, build date (CMake)

  InitOptions init_options;
  auto* init = add_init_command(app, init_options);
  ValidateOptions validate_options;
  auto* validate = add_validate_command(app, validate_options);

  std::string playbook;
  std::optional<std::string> env_opt;
  auto* plan = app.add_subcommand("plan", "what a run would do on each stage; changes nothing");
  plan->add_option("PLAYBOOK", playbook, "a playbook name under playbooks/, or a path")->required();
  plan->add_option("--env", env_opt, "only this stage");
  bool plan_json = false;
  plan->add_flag("--json", plan_json, "machine-readable output");

  bool yes = false;
  std::string report_file;
  auto* run =
      app.add_subcommand("run", "run a playbook: backup, migrate, verify, restart, health; roll back on failure");
  run->add_option("PLAYBOOK", playbook, "a playbook name under playbooks/, or a path")->required();
  run->add_option("--env", env_opt, "only this stage");
  run->add_flag("--yes", yes, "confirm protected environments");
  run->add_option("--report", report_file, "write the whole run as JSON to FILE");

  bool json = false;
  auto* status = app.add_subcommand("status", "per environment: version, pending, drift, lock holder, last run");
  status->add_option("--env", env_opt, "only this environment");
  status->add_flag("--json", json, "machine-readable output");
  bool check = false;
  status->add_flag("--check", check, "exit 3 on drift, 2 on pending migrations, 0 when up to date");

  std::string env_name;
  auto* history = app.add_subcommand("history", "applied migrations and runs, from the database's own tables");
  history->add_option("ENV", env_name, "environment")->required();
  history->add_flag("--json", json, "machine-readable output");
  bool locks = false;
  history->add_flag("--locks", locks, "per migration and statement: the locks held, rewrites and durations traced");

  auto* backup = app.add_subcommand("backup", "take a verified backup now (or pin/unpin one, or verify one)");
  backup->add_option("ENV", env_name, "environment");  // required unless a subcommand follows
  backup->add_flag("--json", json, "print the backup taken as JSON (docs/json.md); the console stays quiet");
  backup->add_option("--report", report_file, "write the backup's events as JSON to FILE");
  PinOptions pin_options;
  add_pin_commands(*backup, pin_options);
  DrillOptions drill_options;
  auto* verify = add_drill_command(*backup, drill_options);

  auto* backups = app.add_subcommand("backups", "list backups: id, time, size, sha256, version, verified, pinned");
  backups->add_option("ENV", env_name, "environment")->required();
  backups->add_flag("--json", json, "machine-readable output");

  std::optional<std::string> to_version, backup_id;
  bool no_restart = false;
  auto* rollback = app.add_subcommand("rollback", "emergency rollback: down to a version, or restore a backup");
  rollback->add_option("ENV", env_name, "environment")->required();
  auto* to_opt = rollback->add_option("--to", to_version, "run stored down SQL down to VERSION");
  auto* bk_opt = rollback->add_option("--backup", backup_id,
                                      "restore backup ID, 'latest', 'before:VERSION' or 'before-run:RUN_ID'");
  to_opt->excludes(bk_opt);
  rollback->add_flag("--yes", yes, "confirm a protected environment");
  rollback->add_flag("--no-restart", no_restart, "do not restart services afterwards");
  bool dry_run = false, allow_newer_backup = false;
  rollback->add_flag("--dry-run", dry_run, "show the plan and change nothing (exit 0, or 3 when it would be refused)");
  rollback->add_flag("--allow-newer-backup", allow_newer_backup,
                     "on a protected environment, restore a backup taken after the newest change");
  rollback->add_flag("--json", json, "the plan and outcome as one JSON document on stdout");
  rollback->add_option("--report", report_file, "write the plan and outcome as JSON to FILE");
  std::string wait_lock, wait_ready;
  for (auto* sub : {run, backup, rollback}) {
    sub->add_option("--wait-lock", wait_lock, "wait up to DURATION for another run's lock (then exit 3)");
    sub->add_option("--wait-ready", wait_ready, "retry connecting for up to DURATION while the database starts");
  }

  std::string new_name;
  auto* make_new = app.add_subcommand("new", "create migrations/<next version>_NAME/{up,down}.sql");
  make_new->add_option("NAME", new_name, "migration name (letters, digits, _ and -)")->required();

  LintOptions lint_options;
  auto* lint = add_lint_command(app, lint_options);
  ScheduleOptions schedule_options;
  auto* schedule = add_schedule_command(app, schedule_options);
  LedgerOptions ledger_options;
  add_ledger_commands(app, ledger_options);
  SchemaOptions schema_options;
  auto* schema = add_schema_command(app, schema_options);

  add_help_footers(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (std::string unknown = unknown_command(app, argc, argv); !unknown.empty() && e.get_exit_code() != 0) {
      std::cerr << "ferry: error: " << unknown << "\nRun with --help for the list of commands.\n";
      return exit_code::k_usage;
    }
    int rc = app.exit(e);
    return rc == 0 ? 0 : exit_code::k_usage;
  }
  if (root_opt->count() == 0) g.root = find_project_root(".");
  g.color = use_color(no_color, color_when);
  g.quiet = quiet;
  g.verbose = verbosity > 0;
  bool own_state_dir = g.state_dir.empty();  // ROOT/.ferry is ferry's own: tightened when it exists
  if (own_state_dir) g.state_dir = (std::filesystem::path(g.root) / ".ferry").string();

  std::optional<config::Project> loaded;  // its secrets redact the final error message
  try {
    log_options.verbosity = verbosity;
    log_options.quiet = quiet;
    log::init(log_options);
    if (init->parsed()) return cmd_init(init_options, quiet);
    if (schema->parsed()) return cmd_schema(schema_options);
    if (validate->parsed()) return cmd_validate(g, validate_options);
    if (plan->parsed()) return cmd_plan(g, playbook, env_opt, plan_json);
    if (status->parsed()) return cmd_status(g, env_opt, json, check);
    if (history->parsed()) return cmd_history(g, env_name, json, locks);
    if (backups->parsed()) return cmd_backups(g, env_name, json);
    if (make_new->parsed()) return cmd_new(g, new_name);
    if (lint->parsed()) return cmd_lint(g, lint_options);
    if (pin_parsed(pin_options)) return cmd_backup_pin(g, pin_options);
    if (verify->parsed()) return cmd_drill(g, drill_options, metrics_file);
    if (backup->parsed() && env_name.empty())
      throw Error(ErrorKind::Config, "backup needs ENV (or pin|unpin ENV ID, or verify ENV [ID])");
    if (schedule->parsed()) return cmd_schedule(g, schedule_options);
    if (ledger_options.baseline->parsed()) return cmd_baseline(g, ledger_options, joined_argv(argc, argv));
    if (ledger_options.repair->parsed()) return cmd_repair(g, ledger_options, joined_argv(argc, argv));
    Millis lock_wait = wait_option("--wait-lock", wait_lock), ready_wait = wait_option("--wait-ready", wait_ready);
    loaded = config::load_project(g.root, touched(g.root, playbook, run->parsed() ? env_opt : env_name));
    const auto& project = *loaded;
    log::set_secrets(&project.secrets);
    if (run->parsed()) {
      auto pb = config::load_playbook(project, playbook);
      prepare_state_dir(g.state_dir, own_state_dir);
      if (!report_file.empty()) prepare_report_file(report_file);
      run::RunOptions o;
      o.only_env = env_opt;
      o.yes = yes;
      o.report_file = report_file;
      o.state_dir = g.state_dir;
      o.command_line = joined_argv(argc, argv);
      o.color = g.color;
      o.quiet = g.quiet;
      o.verbose = g.verbose;
      o.wait_lock = lock_wait;
      o.wait_ready = ready_wait;
      o.metrics_file = metrics_file;
      return run::run_playbook(project, pb, o);
    }
    if (backup->parsed()) {
      prepare_state_dir(g.state_dir, own_state_dir);
      if (!report_file.empty()) prepare_report_file(report_file);
      run::RunOptions o;
      o.state_dir = g.state_dir;
      o.report_file = report_file;
      o.command_line = joined_argv(argc, argv);
      o.color = g.color;
      o.quiet = g.quiet || json;
      o.wait_lock = lock_wait;
      o.wait_ready = ready_wait;
      o.metrics_file = metrics_file;
      std::string taken;
      o.taken_backup_id = &taken;
      auto started = std::chrono::steady_clock::now();
      int code = run::backup_environment(project, env_name, o);
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
      if (json) print_backup_json(project, env_name, taken, code, ms.count());
      return code;
    }
    if (rollback->parsed()) {
      if (!to_version && !backup_id)
        throw Error(ErrorKind::Config, "rollback needs --to VERSION or --backup ID|latest");
      prepare_state_dir(g.state_dir, own_state_dir);
      if (!report_file.empty()) prepare_report_file(report_file);
      run::RollbackOptions o;
      o.dry_run = dry_run;
      o.allow_newer_backup = allow_newer_backup;
      o.json = json;
      o.report_file = report_file;
      o.env = env_name;
      o.to_version = to_version;
      o.backup_id = backup_id;
      o.yes = yes;
      o.no_restart = no_restart;
      o.state_dir = g.state_dir;
      o.command_line = joined_argv(argc, argv);
      o.color = g.color;
      o.quiet = g.quiet;
      o.wait_lock = lock_wait;
      o.wait_ready = ready_wait;
      o.metrics_file = metrics_file;
      return run::rollback_environment(project, o);
    }
  } catch (const Error& e) {
    auto redact = [&](const std::string& s) { return loaded ? loaded->secrets.redact(s) : s; };
    // A configuration error may carry several errors, one per line: each gets its own prefix.
    std::string prefix = std::string("ferry: ") + (e.kind() == ErrorKind::Refused ? "refused: " : "error: ");
    if (e.kind() == ErrorKind::Config) {
      std::istringstream lines(redact(e.what()));
      for (std::string line; std::getline(lines, line);) std::cerr << prefix << line << "\n";
    } else {
      std::cerr << prefix << redact(e.what()) << "\n";
    }
    if (!e.hint().empty()) std::cerr << "hint: " << redact(e.hint()) << "\n";
    return exit_for(e.kind());
  } catch (const std::exception& e) {
    std::cerr << "ferry: internal error: " << (loaded ? loaded->secrets.redact(e.what()) : e.what()) << "\n";
    return exit_code::k_failed_clean;
  }
  return exit_code::k_usage;
}

}  // namespace ferry::cli
