#include <unistd.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <functional>
#include <sstream>
#include <vector>

#include "cli/backup_commands.hpp"
#include "cli/change_commands.hpp"
#include "cli/cli.hpp"
#include "cli/commands.hpp"
#include "cli/drill_command.hpp"
#include "cli/files.hpp"
#include "cli/fleet_options.hpp"
#include "cli/help.hpp"
#include "cli/init_command.hpp"
#include "cli/ledger_commands.hpp"
#include "cli/lint_command.hpp"
#include "cli/schedule_command.hpp"
#include "cli/schema_command.hpp"
#include "cli/validate_command.hpp"
#include "config/loader.hpp"
#include "core/error.hpp"
#include "ferry_version.hpp"
#include "log/log.hpp"

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

std::string joined_argv(int argc, char** argv) {
  std::string s = "ferry";
  for (int i = 1; i < argc; ++i) s += std::string(" ") + argv[i];
  return s;
}

// The global options (accepted before or after the command).
struct GlobalFlags {
  Globals g;
  CLI::Option* root_opt = nullptr;
  std::string color_when = "auto";
  bool no_color = false;
  int verbosity = 0;
  log::Options log_options;
  ChangeContext change;  // its metrics_file is --metrics-file
};

void add_global_flags(CLI::App& app, GlobalFlags& f) {
  f.root_opt = app.add_option(
      "-C,--project", f.g.root,
      "project directory (default: the nearest directory up from here with environments/ and playbooks/)");
  app.add_option("--color", f.color_when, "colour: auto (a terminal), always or never")
      ->check(CLI::IsMember({"auto", "always", "never"}));
  app.add_option("--state-dir", f.g.state_dir, "where journals go (default: DIR/.ferry)");
  app.add_flag("--no-color", f.no_color, "never colour the output");
  app.add_flag("-v,--verbose", f.verbosity, "more detail; diagnostics on stderr (-vv: SQL statements too)");
  app.add_flag("-q,--quiet", f.g.quiet, "only failures and the final line");
  app.add_option("--log-file", f.log_options.file, "diagnostics log (rotating, 3 x 10 MB)");
  app.add_flag("--syslog", f.log_options.syslog, "diagnostics log to syslog too");
  app.add_option("--metrics-file", f.change.metrics_file, "write a Prometheus textfile after a run, backup or drill");
  app.set_version_flag("--version", FERRY_VERSION_STRING);  // version, git commit, build date (CMake)
}

// After parsing: the project root, colour, verbosity and the state directory.
void settle_globals(GlobalFlags& f, int argc, char** argv) {
  if (f.root_opt->count() == 0) f.g.root = find_project_root(".");
  f.g.color = use_color(f.no_color, f.color_when);
  f.g.verbose = f.verbosity > 0;
  f.change.own_state_dir = f.g.state_dir.empty();  // ROOT/.ferry is ferry's own: tightened when it exists
  if (f.change.own_state_dir) f.g.state_dir = (std::filesystem::path(f.g.root) / ".ferry").string();
  f.change.command_line = joined_argv(argc, argv);
  f.log_options.verbosity = f.verbosity;
  f.log_options.quiet = f.g.quiet;
}

// Every subcommand's options, filled by parsing.
struct Commands {
  InitOptions init_options;
  ValidateOptions validate_options;
  std::string playbook, env_name, new_name;
  std::optional<std::string> env_opt;
  bool json = false, plan_json = false, check = false, locks = false;
  ChangeOptions change;
  LintOptions lint_options;
  ScheduleOptions schedule_options;
  LedgerOptions ledger_options;
  SchemaOptions schema_options;
  CLI::App *init = nullptr, *validate = nullptr, *plan = nullptr, *status = nullptr, *history = nullptr;
  CLI::App *backups = nullptr, *make_new = nullptr, *lint = nullptr, *schedule = nullptr, *schema = nullptr;
};

void add_plan_command(CLI::App& app, Commands& c) {
  c.plan = app.add_subcommand("plan", "what a run would do on each stage; changes nothing");
  c.plan->add_option("PLAYBOOK", c.playbook, "a playbook name under playbooks/, or a path")->required();
  c.plan->add_option("--env", c.env_opt, "only this stage");
  c.plan->add_flag("--json", c.plan_json, "machine-readable output");
}

void add_status_command(CLI::App& app, Commands& c) {
  c.status = app.add_subcommand("status", "per environment: version, pending, drift, lock holder, last run");
  c.status->add_option("--env", c.env_opt, "only this environment");
  c.status->add_flag("--json", c.json, "machine-readable output");
  c.status->add_flag("--check", c.check, "exit 3 on drift, 2 on pending migrations, 0 when up to date");
}

void add_history_command(CLI::App& app, Commands& c) {
  c.history = app.add_subcommand("history", "applied migrations and runs, from the database's own tables");
  c.history->add_option("ENV", c.env_name, "environment")->required();
  c.history->add_flag("--json", c.json, "machine-readable output");
  c.history->add_flag("--locks", c.locks, "per migration and statement: the locks held, rewrites and durations traced");
}

void add_backups_command(CLI::App& app, Commands& c) {
  c.backups = app.add_subcommand("backups", "list backups: id, time, size, sha256, version, verified, pinned");
  c.backups->add_option("ENV", c.env_name, "environment")->required();
  c.backups->add_flag("--json", c.json, "machine-readable output");
}

void add_new_command(CLI::App& app, Commands& c) {
  c.make_new = app.add_subcommand("new", "create migrations/<next version>_NAME/{up,down}.sql");
  c.make_new->add_option("NAME", c.new_name, "migration name (letters, digits, _ and -)")->required();
}

// Registers every subcommand, in the order `ferry --help` lists them.
void add_commands(CLI::App& app, Commands& c) {
  c.init = add_init_command(app, c.init_options);
  c.validate = add_validate_command(app, c.validate_options);
  add_plan_command(app, c);
  add_run_command(app, c.change);
  add_status_command(app, c);
  add_history_command(app, c);
  add_backup_command(app, c.change);
  add_backups_command(app, c);
  add_rollback_command(app, c.change);
  add_new_command(app, c);
  c.lint = add_lint_command(app, c.lint_options);
  c.schedule = add_schedule_command(app, c.schedule_options);
  add_ledger_commands(app, c.ledger_options);
  c.schema = add_schema_command(app, c.schema_options);
  auto& ch = c.change;
  add_fleet_options(ch.run, c.plan, {ch.run, c.plan, c.status, c.history, ch.backup, c.backups, ch.rollback}, ch.fleet);
}

// --database picks one member of a fleet environment: run, plan and status name it with --env.
void check_database_flag(const Commands& c) {
  bool needs_env = c.change.run->parsed() || c.plan->parsed() || c.status->parsed();
  std::optional<std::string> env = c.change.run->parsed() ? c.change.only_env : c.env_opt;
  if (c.change.fleet.database && needs_env && !env)
    throw Error(ErrorKind::Config, "--database needs --env: the fleet environment it is a database of");
}

// A subcommand that needs no loaded project: when it was parsed, and what it runs.
struct Command {
  std::function<bool()> parsed;
  std::function<int()> run;
};

// In the order they are tried: a nested command (pin, verify) before its parent.
std::vector<Command> project_free_commands(const Commands& c, const GlobalFlags& f) {
  auto is = [](CLI::App* sub) { return [sub] { return sub->parsed(); }; };
  return {
      {is(c.init), [&] { return cmd_init(c.init_options, f.g.quiet); }},
      {is(c.schema), [&] { return cmd_schema(c.schema_options); }},
      {is(c.validate), [&] { return cmd_validate(f.g, c.validate_options); }},
      {is(c.plan), [&] { return cmd_plan(f.g, c.playbook, c.env_opt, c.plan_json); }},
      {is(c.status), [&] { return cmd_status(f.g, c.env_opt, c.json, c.check); }},
      {is(c.history), [&] { return cmd_history(f.g, c.env_name, c.json, c.locks); }},
      {is(c.backups), [&] { return cmd_backups(f.g, c.env_name, c.json); }},
      {is(c.make_new), [&] { return cmd_new(f.g, c.new_name); }},
      {is(c.lint), [&] { return cmd_lint(f.g, c.lint_options); }},
      {[&] { return pin_parsed(c.change.pin); }, [&] { return cmd_backup_pin(f.g, c.change.pin); }},
      {is(c.change.verify), [&] { return cmd_drill(f.g, c.change.drill, f.change.metrics_file); }},
      {[&] { return c.change.backup->parsed() && c.change.env.empty(); },
       []() -> int { throw Error(ErrorKind::Config, "backup needs ENV (or pin|unpin ENV ID, or verify ENV [ID])"); }},
      {is(c.schedule), [&] { return cmd_schedule(f.g, c.schedule_options); }},
      {is(c.ledger_options.baseline), [&] { return cmd_baseline(f.g, c.ledger_options, f.change.command_line); }},
      {is(c.ledger_options.repair), [&] { return cmd_repair(f.g, c.ledger_options, f.change.command_line); }},
  };
}

// `run`, `backup ENV`, `rollback`: the project is loaded (into `loaded`, whose secrets redact
// the final error) resolving only the environments the command touches.
int changing_command(const Commands& c, const GlobalFlags& f, std::optional<config::Project>& loaded) {
  const ChangeOptions& ch = c.change;
  check_wait_options(ch);
  loaded = config::load_project(f.g.root, touched_environments(f.g.root, ch));
  if (ch.run->parsed() && ch.only_env) select_database(*loaded, *ch.only_env, ch.fleet.database, false);
  if (ch.backup->parsed() || ch.rollback->parsed()) select_database(*loaded, ch.env, ch.fleet.database, true);
  log::set_secrets(&loaded->secrets);
  if (ch.run->parsed()) return cmd_run(f.g, f.change, *loaded, ch);
  if (ch.backup->parsed()) return cmd_backup(f.g, f.change, *loaded, ch);
  if (ch.rollback->parsed()) return cmd_rollback(f.g, f.change, *loaded, ch);
  return exit_code::k_usage;
}

// The single top-level catch: the message (secrets redacted) on stderr and the exit code.
int report_error(const Error& e, const std::optional<config::Project>& loaded) {
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
}

// `ferry backup verfy`: a word after a command with subcommands, close to one of them and not
// an environment of the project at `root`; "" when none.
std::string mistyped(CLI::App& app, int argc, char** argv, const std::string& root) {
  return mistyped_subcommand(app, argc, argv, [&](const std::string& w) {
    return std::filesystem::exists(std::filesystem::path(root) / "environments" / (w + ".yaml"));
  });
}

// CLI11's parse; an exit code when ferry stops here (--help, --version, a usage error, a
// mistyped command).
std::optional<int> parse(CLI::App& app, const GlobalFlags& f, int argc, char** argv) {
  auto root = [&] { return f.root_opt->count() ? f.g.root : find_project_root("."); };
  try {
    app.parse(argc, argv);
    if (std::string wrong = mistyped(app, argc, argv, root()); !wrong.empty()) {
      std::cerr << "ferry: error: " << wrong << "\nRun with --help for the list of commands.\n";
      return exit_code::k_usage;
    }
  } catch (const CLI::ParseError& e) {
    std::string unknown = unknown_command(app, argc, argv);
    if (unknown.empty() && e.get_exit_code() != 0) unknown = mistyped(app, argc, argv, root());
    if (!unknown.empty() && e.get_exit_code() != 0) {
      std::cerr << "ferry: error: " << unknown << "\nRun with --help for the list of commands.\n";
      return exit_code::k_usage;
    }
    int rc = app.exit(e);
    return rc == 0 ? 0 : exit_code::k_usage;
  }
  return std::nullopt;
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
  GlobalFlags flags;
  add_global_flags(app, flags);
  Commands commands;
  add_commands(app, commands);
  add_help_footers(app);
  if (auto stop = parse(app, flags, argc, argv)) return *stop;
  settle_globals(flags, argc, argv);
  flags.g.database = commands.change.fleet.database;
  flags.g.fleet_only = commands.change.fleet.only;  // plan's selection (run reads change.fleet)
  flags.g.fleet_exclude = commands.change.fleet.exclude;
  flags.g.fleet_shard = commands.change.fleet.shard;

  std::optional<config::Project> loaded;  // its secrets redact the final error message
  try {
    log::init(flags.log_options);
    check_database_flag(commands);
    for (const auto& command : project_free_commands(commands, flags))
      if (command.parsed()) return command.run();
    return changing_command(commands, flags, loaded);
  } catch (const Error& e) {
    return report_error(e, loaded);
  } catch (const std::exception& e) {
    std::cerr << "ferry: internal error: " << (loaded ? loaded->secrets.redact(e.what()) : e.what()) << "\n";
    return exit_code::k_failed_clean;
  }
}

}  // namespace ferry::cli
