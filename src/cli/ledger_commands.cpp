#include "cli/ledger_commands.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <iostream>
#include <map>
#include <set>

#include "config/loader.hpp"
#include "core/error.hpp"
#include "core/text.hpp"
#include "db/ledger.hpp"
#include "migrate/alembic.hpp"
#include "migrate/migration_set.hpp"
#include "migrate/sql_parser.hpp"
#include "run/runner.hpp"
#include "run/target.hpp"
#include "steps/restore_window.hpp"
#include "steps/driver.hpp"
#include "steps/step.hpp"
#include "steps/context.hpp"

namespace ferry::cli {

void add_ledger_commands(CLI::App& app, LedgerOptions& o) {
  o.baseline = app.add_subcommand(
      "baseline", "an existing database: record migrations up to VERSION as applied, without running them");
  o.baseline->add_option("ENV", o.env, "environment")->required();
  o.baseline->add_option("--to", o.to, "the version (or Alembic revision) the database is at")->required();
  o.repair = app.add_subcommand("repair",
                                "accept changed checksums (with a reason) and mark runs of dead processes abandoned");
  o.repair->add_option("ENV", o.env, "environment")->required();
  o.repair->add_option("--reason", o.reason, "why the files changed: recorded in ferry.history")->required();
}

namespace {

// The open ledger of ENV, its lock held (refused, exit 3, when another run holds it).
struct Locked {
  run::DbLink link;
  std::unique_ptr<db::Ledger> ledger;
};

Locked lock_ledger(const config::Environment& env) {
  Locked l;
  l.link = run::connect(env);
  l.ledger = std::make_unique<db::Ledger>(*l.link.conn);
  if (!l.ledger->try_lock()) {
    auto holder = l.ledger->lock_holder();
    throw Error(ErrorKind::Refused, "'" + env.name + "' is locked by " +
                                        (holder ? holder->describe() : std::string("another session")) +
                                        "; nothing was recorded");
  }
  l.ledger->ensure_schema();
  l.ledger->ensure_notes();
  return l;
}

// The migrations directory of the first native playbook that stages ENV (else migrations/).
config::MigrationsSource native_source(const config::Project& p, const std::string& env) {
  for (const auto& name : config::list_playbooks(p.root)) {
    try {
      auto pb = config::load_playbook(p, name);
      if (pb.migrations.driver == config::Driver::Native &&
          std::find(pb.stages.begin(), pb.stages.end(), env) != pb.stages.end())
        return pb.migrations;
    } catch (const Error&) {
    }
  }
  return config::MigrationsSource{};
}

db::RunRecord run_record(const std::string& id, const std::string& what, const config::Environment& env,
                         const std::string& version_before, const std::string& command_line) {
  db::RunRecord r;
  r.id = id;
  r.playbook = what;
  r.environment = env.name;
  r.operator_name = run::operator_name();
  r.host = run::host_name();
  r.version_before = version_before;
  r.command = command_line;
  return r;
}

// The native migrations up to `to` that are not yet in the ledger; refuses (exit 3) when one
// is applied with another checksum or the ledger is beyond `to`.
std::vector<migrate::Migration> to_baseline(const std::vector<migrate::Migration>& files,
                                            const std::vector<db::AppliedMigration>& applied, const std::string& to) {
  auto known = std::find_if(files.begin(), files.end(),
                            [&](const migrate::Migration& m) { return migrate::compare_versions(m.version, to) == 0; });
  if (known == files.end())
    throw Error(
        ErrorKind::Config, "no migration '" + to + "' in the migrations directory",
        "baseline --to names a version of migrations/ (" +
            (files.empty() ? std::string("none there") : files.front().version + " ... " + files.back().version) + ")");
  std::map<std::string, const db::AppliedMigration*> by_version;
  for (const auto& a : applied) {
    if (migrate::compare_versions(a.version, to) > 0)
      throw Error(ErrorKind::Refused, "version " + a.version + "_" + a.name + " is applied already, beyond " + to +
                                          "; a baseline only records what the database has and the ledger lacks");
    by_version[a.version] = &a;
  }
  std::vector<migrate::Migration> out;
  for (const auto& m : files) {
    if (migrate::compare_versions(m.version, to) > 0) break;
    auto it = std::find_if(by_version.begin(), by_version.end(),
                           [&](const auto& kv) { return migrate::compare_versions(kv.first, m.version) == 0; });
    if (it == by_version.end()) {
      out.push_back(m);
      continue;
    }
    if (it->second->checksum != m.checksum)
      throw Error(ErrorKind::Refused,
                  m.id() + " is applied already with checksum " + it->second->checksum.substr(0, 12) +
                      ", the file has " + m.checksum.substr(0, 12) + "; nothing was recorded",
                  "if the file changed on purpose: ferry repair ENV --reason TEXT");
  }
  return out;
}

int baseline_native(const config::Project& project, const config::Environment& env, const LedgerOptions& o,
                    const std::string& command_line) {
  auto files = run::load_playbook_migrations(project, native_source(project, env.name));
  auto l = lock_ledger(env);
  auto todo = to_baseline(files, l.ledger->applied(), o.to);
  std::string run_id = run::new_run_id();
  std::string note = "baseline --to " + o.to + " by " + run::operator_name() +
                     ": recorded as applied without running (the database had them already)";
  auto& db = *l.link.conn;
  db.exec("BEGIN");
  l.ledger->insert_run(run_record(run_id, "baseline", env, l.ledger->current_version(), command_line));
  std::string ids;
  for (const auto& m : todo) {
    l.ledger->record_baselined(steps::record_for(m, run_id), note);
    ids += (ids.empty() ? "" : ", ") + m.id();
  }
  l.ledger->finish_run(run_id, "succeeded", l.ledger->current_version(), "");
  l.ledger->set_run_note(run_id, note);
  db.exec("COMMIT");
  std::cout << "baselined " << env.name << " at " << o.to << ": " << todo.size()
            << " migration(s) recorded as applied without running them" << (ids.empty() ? "" : " (" + ids + ")")
            << "; run " << run_id << "\n";
  return 0;
}

int baseline_alembic(const config::Environment& env, const config::MigrationsSource& src, const LedgerOptions& o,
                     const std::string& command_line) {
  steps::Transports transports(env);
  auto& t = transports.get(src.on);
  auto chain = migrate::alembic_history(t, src);
  std::string to = o.to == "head" && !chain.empty() ? chain.back().id : o.to;
  auto at = std::find_if(chain.begin(), chain.end(), [&](const auto& r) { return r.id == to; });
  if (at == chain.end())
    throw Error(ErrorKind::Config, "alembic revision '" + o.to + "' is not in the history", "see `alembic history`");
  auto l = lock_ledger(env);
  std::string now = migrate::alembic_current(*l.link.conn);
  if (!now.empty() && now != to)
    throw Error(ErrorKind::Refused, "'" + env.name + "' is stamped at alembic revision " + now + " already, not " + to +
                                        "; nothing was changed");
  std::string run_id = run::new_run_id();
  std::string note = "baseline --to " + to + " by " + run::operator_name() + ": alembic stamp, nothing run";
  l.ledger->insert_run(run_record(run_id, "baseline", env, now, command_line));
  if (now.empty()) migrate::alembic_run(t, src, "stamp " + shell_quote(to), std::nullopt);
  auto& db = *l.link.conn;
  db.exec("BEGIN");
  for (auto it = chain.begin(); now.empty() && it != at + 1; ++it)
    l.ledger->record_baselined_revision(it->id, it->message, run_id, note);
  l.ledger->finish_run(run_id, "succeeded", migrate::alembic_current(db), "");
  l.ledger->set_run_note(run_id, note);
  db.exec("COMMIT");
  std::cout << "baselined " << env.name << " at alembic revision " << to << " (alembic stamp"
            << (now.empty() ? "" : ": already there") << "); run " << run_id << "\n";
  return 0;
}

}  // namespace

int cmd_baseline(const Globals& g, const LedgerOptions& o, const std::string& command_line) {
  auto project = config::load_project(g.root, std::set<std::string>{o.env});
  const auto& env = project.environment(o.env);
  if (auto src = steps::source_for(project, o.env); src.driver == config::Driver::Alembic)
    return baseline_alembic(env, src, o, command_line);
  return baseline_native(project, env, o, command_line);
}

namespace {

// Applied migrations whose file changed: the file's checksum accepted, old and new recorded.
std::vector<std::string> accept_changed(db::Ledger& ledger, const std::vector<migrate::Migration>& files,
                                        const std::string& run_id, const std::string& reason) {
  std::vector<std::string> out;
  for (const auto& a : ledger.applied()) {
    auto f = std::find_if(files.begin(), files.end(), [&](const migrate::Migration& m) {
      return migrate::compare_versions(m.version, a.version) == 0;
    });
    if (f == files.end() || f->checksum == a.checksum) continue;
    ledger.accept_checksum(
        a.version, f->checksum, run_id,
        "checksum " + a.checksum + " -> " + f->checksum + " accepted by " + run::operator_name() + ": " + reason);
    out.push_back(f->id() + ": checksum " + a.checksum.substr(0, 12) + " -> " + f->checksum.substr(0, 12) +
                  " accepted");
  }
  return out;
}

// Runs left 'running': abandoned when their session (and with it the run's lock, which this
// repair holds now) is gone; never when their session is alive.
std::vector<std::string> settle_running(db::Ledger& ledger, const std::string& repair_id) {
  std::vector<std::string> out;
  std::string here = run::host_name();
  for (const auto& r : ledger.running_runs()) {
    if (r.run.id == repair_id) continue;
    std::string who =
        "run " + r.run.id + " (" + r.run.operator_name + " on " + r.run.host + ", started " + r.run.started + ")";
    if (r.session_alive) {
      out.push_back(who + ": kept, its database session (pid " + std::to_string(r.backend_pid) +
                    ") is alive; it may still be running");
      continue;
    }
    std::string why = "abandoned by ferry repair: its database session and the run's lock are gone";
    if (r.run.host != here)
      why += " (host " + r.run.host +
             ": a ferry still alive there stops without undoing anything, as this repair "
             "is recorded after it)";
    if (ledger.mark_abandoned(r.run.id, why)) out.push_back(who + ": " + why);
  }
  return out;
}

}  // namespace

int cmd_repair(const Globals& g, const LedgerOptions& o, const std::string& command_line) {
  if (trim(o.reason).empty()) throw Error(ErrorKind::Config, "--reason must say why (it is recorded)");
  auto project = config::load_project(g.root, std::set<std::string>{o.env});
  const auto& env = project.environment(o.env);
  std::vector<migrate::Migration> files;
  if (steps::source_for(project, o.env).driver != config::Driver::Alembic)
    files = run::load_playbook_migrations(project, native_source(project, env.name));
  // A swap restore killed inside its window may have left the database refusing connections.
  for (const auto& line : steps::recover_swap_window(env)) std::cout << "  " << line << "\n";
  auto l = lock_ledger(env);
  std::string run_id = run::new_run_id();
  auto& db = *l.link.conn;
  l.ledger->insert_run(run_record(run_id, "repair", env, l.ledger->current_version(), command_line));
  db.exec("BEGIN");
  auto accepted = accept_changed(*l.ledger, files, run_id, o.reason);
  auto settled = settle_running(*l.ledger, run_id);
  l.ledger->finish_run(run_id, "succeeded", l.ledger->current_version(), "");
  l.ledger->set_run_note(run_id, "repair by " + run::operator_name() + ": " + o.reason);
  db.exec("COMMIT");
  for (const auto& line : accepted) std::cout << "  " << line << "\n";
  for (const auto& line : settled) std::cout << "  " << line << "\n";
  std::cout << "repaired " << env.name << ": " << accepted.size() << " checksum(s) accepted, "
            << std::count_if(settled.begin(), settled.end(),
                             [](const std::string& s) { return s.find(": kept") == std::string::npos; })
            << " run(s) marked abandoned; run " << run_id << "\n";
  return 0;
}

}  // namespace ferry::cli
