#include "cli/commands.hpp"

#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "cli/fleet_options.hpp"
#include "cli/fleet_status.hpp"
#include "cli/lint_command.hpp"
#include "cli/lock_views.hpp"
#include "config/loader.hpp"
#include "core/error.hpp"
#include "core/interrupt.hpp"
#include "core/output.hpp"
#include "core/text.hpp"
#include "db/catalog_stamp.hpp"
#include "db/introspect.hpp"
#include "migrate/alembic.hpp"
#include "migrate/migration_set.hpp"
#include "run/lock_json.hpp"
#include "run/runner.hpp"
#include "run/target.hpp"
#include "steps/backup.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace ferry::cli {

std::string paint(const Globals& g, const char* code, const std::string& s) {
  return g.color ? std::string("\033[") + code + "m" + s + "\033[0m" : s;
}
std::string or_none(const std::string& v) { return v.empty() ? "none" : v; }

// Environments in promotion order: an environment after those it requires (then by name).
std::vector<std::string> promotion_order(const config::Project& p) {
  std::vector<std::string> out;
  std::set<std::string> placed;
  while (out.size() < p.environments.size()) {
    bool progress = false;
    for (const auto& [name, env] : p.environments) {
      if (placed.count(name)) continue;
      bool ready = true;
      for (const auto& r : env.requires_envs) ready &= placed.count(r) > 0;
      if (!ready) continue;
      out.push_back(name);
      placed.insert(name);
      progress = true;
      break;
    }
    if (!progress)  // a cycle: the rest by name
      for (const auto& [name, env] : p.environments)
        if (placed.insert(name).second) out.push_back(name);
  }
  return out;
}

// `status --check`: 3 when any environment drifted (or has an interrupted migration), else 2
// when any has pending migrations, else 1 when any is unreachable, else 0.
static int status_check_code(const json& out) {
  bool drift = false, pending = false, unreachable = false;
  for (const auto& e : out) {
    if (!e["reachable"].get<bool>()) {
      unreachable = true;
      continue;
    }
    if (e.value("fleet", false)) {  // cli/fleet_status.*
      fleet_check_facts(e, drift, pending, unreachable);
      continue;
    }
    drift |= !e["drift"].empty() || !e["interrupted"].empty();
    pending |= !e["pending"].empty();
  }
  if (drift) return exit_code::k_refused;
  if (pending) return exit_code::k_failed_dirty;
  return unreachable ? exit_code::k_failed_clean : exit_code::k_ok;
}

// What `status` shows of a reachable environment; throws when it cannot be read.
void read_status(json& e, const config::Project& project, const config::Environment& env, bool with_fingerprint) {
  auto link = run::connect(env);
  auto& conn = link.conn;
  // The fingerprint's query is most of status's time, all of it on the server: it runs while
  // this thread reads and hashes the migration files, which do not touch the session. Nothing
  // else uses the session until get() (its destructor waits when the files throw).
  std::future<std::string> fingerprint;
  if (with_fingerprint)
    fingerprint = std::async(std::launch::async, [&conn] { return db::fingerprint_via_stamp(*conn); });
  steps::Transports transports(env);
  auto src = steps::source_for(project, env.name);
  std::vector<migrate::Migration> migrations;
  try {
    migrations = run::load_playbook_migrations(project, src);
  } catch (const Error& err) {
    if (err.kind() == ErrorKind::Config) throw BadProjectFiles(err);  // not the environment's fault
    throw;
  }
  if (fingerprint.valid()) e["fingerprint"] = fingerprint.get();
  db::Ledger ledger(*conn);
  auto driver = steps::make_driver(src, transports, std::move(migrations));
  e["reachable"] = true;
  json pending = json::array();
  json drift = json::array();
  json cut = json::array();
  try {
    auto st = driver->read(*conn, ledger);
    e["version"] = st.current;
    e["applied"] = st.applied;
    for (const auto& m : st.pending) pending.push_back(m.label);
    for (const auto& d : st.drift) drift.push_back(d);
    for (const auto& c : st.interrupted) cut.push_back(c);
  } catch (const Error& err) {
    if (err.kind() != ErrorKind::Refused) throw;
    e["version"] = driver->current_version(*conn, ledger);
    e["applied"] = 0;
    drift.push_back(err.what());
  }
  e["pending"] = pending;
  e["drift"] = drift;
  e["interrupted"] = cut;
  auto holder = ledger.lock_holder();
  e["lock"] = holder ? json(holder->describe()) : json(nullptr);  // text, kept for existing readers
  e["lock_holder"] = run::lock_holder_json(holder);
  auto runs = ledger.runs(1);
  if (!runs.empty())
    e["last_run"] = {{"id", runs[0].id},           {"playbook", runs[0].playbook}, {"outcome", runs[0].outcome},
                     {"started", runs[0].started}, {"finished", runs[0].finished}, {"operator", runs[0].operator_name},
                     {"error", runs[0].error}};
  else
    e["last_run"] = nullptr;
  std::string rev;
  try {  // a native project's status does not fail on a planted alembic_version it will not read
    rev = migrate::alembic_current(*conn);
  } catch (const Error&) {
    if (interrupted()) throw;
  }
  e["alembic_revision"] = rev.empty() ? json(nullptr) : json(rev);
}

int cmd_status(const Globals& g, const std::optional<std::string>& only, bool as_json, bool check) {
  // --env ENV resolves ${VAR} and password_file for ENV only.
  auto project = only ? config::load_project(g.root, std::set<std::string>{*only}) : config::load_project(g.root);
  if (only) select_database(project, *only, g.database, false);
  if (only && project.environment(*only).database.fleet())  // cli/fleet_status.*
    return print_fleet_status(g, fleet_status(project, project.environment(*only)), as_json, check);
  json out = json::array();
  int code = 0;
  for (const auto& name : promotion_order(project)) {
    const auto& env = project.environments.at(name);
    if (only && *only != name) continue;
    if (env.database.fleet()) {  // one line of the fleet's summary (cli/fleet_status.*)
      out.push_back(fleet_status_element(project, env, code));
      continue;
    }
    json e = {{"schema_version", 1},  // in each element: the array stays as its readers know it
              {"environment", name},       {"database", env.database.name}, {"host", env.database.host},
              {"port", env.database.port}, {"protected", env.is_protected}};
    try {
      read_status(e, project, env, true);
    } catch (const BadProjectFiles&) {
      throw;
    } catch (const Error& err) {
      e["reachable"] = false;
      e["error"] = project.secrets.redact(err.what());
      code = 1;
    }
    out.push_back(e);
  }
  if (only && out.empty()) project.environment(*only);  // throws the did-you-mean error
  if (check) code = status_check_code(out);
  if (as_json) {
    std::cout << out.dump(2) << "\n";
    return code;
  }
  for (const auto& e : out) {
    if (e.value("fleet", false)) {
      print_fleet_line(g, e);
      continue;
    }
    std::cout << paint(g, "1", e["environment"].get<std::string>()) << "  " << e["database"].get<std::string>()
              << " on " << e["host"].get<std::string>() << ":" << e["port"].get<int>()
              << (e["protected"].get<bool>() ? "  [protected]" : "") << "\n";
    if (!e["reachable"].get<bool>()) {
      std::cout << "  " << paint(g, "31", "unreachable") << ": " << e["error"].get<std::string>() << "\n";
      continue;
    }
    std::cout << "  version      " << or_none(e["version"].get<std::string>()) << " (" << e["applied"].get<size_t>()
              << " applied)\n";
    std::cout << "  pending      " << e["pending"].size();
    for (const auto& p : e["pending"]) std::cout << "  " << p.get<std::string>();
    std::cout << "\n";
    if (e["drift"].empty()) std::cout << "  drift        none\n";
    for (const auto& d : e["drift"]) std::cout << "  drift        " << paint(g, "31", d.get<std::string>()) << "\n";
    for (const auto& c : e["interrupted"])
      std::cout << "  interrupted  " << paint(g, "31", c.get<std::string>()) << "\n  hint         "
                << run::interrupted_hint(project.environments.at(e["environment"].get<std::string>())) << "\n";
    std::cout << "  lock         " << (e["lock"].is_null() ? "free" : e["lock"].get<std::string>()) << "\n";
    if (e["last_run"].is_null()) {
      std::cout << "  last run     none\n";
    } else {
      const auto& r = e["last_run"];
      std::string outcome = r["outcome"].get<std::string>();
      const char* c = outcome == "succeeded"     ? "32"
                      : outcome == "running"     ? "36"
                      : outcome == "rolled_back" ? "33"
                                                 : "31";
      std::cout << "  last run     " << r["id"].get<std::string>() << " " << r["playbook"].get<std::string>() << " "
                << paint(g, c, outcome) << " (" << r["operator"].get<std::string>() << ", "
                << r["started"].get<std::string>() << ")\n";
    }
    if (!e["alembic_revision"].is_null())
      std::cout << "  alembic      " << e["alembic_revision"].get<std::string>() << "\n";
    std::cout << "  fingerprint  " << e["fingerprint"].get<std::string>().substr(0, 16) << "\n";
  }
  return code;
}

int cmd_history(const Globals& g, const std::string& env_name, bool as_json, bool locks) {
  auto project = config::load_project(g.root);
  select_database(project, env_name, g.database, true);
  const auto& env = project.environment(env_name);
  auto link = run::connect(env);
  db::Ledger ledger(*link.conn);
  auto applied = ledger.applied();
  auto runs = ledger.runs(50);
  auto events = ledger.history(100);
  auto traces = read_traces(*link.conn);
  if (as_json) {
    json j = {{"schema_version", 1},
              {"environment", env_name},
              {"migrations", json::array()},
              {"runs", json::array()},
              {"events", json::array()}};
    for (const auto& m : applied)
      j["migrations"].push_back(
          {{"version", m.version},
           {"name", m.name},
           {"checksum", m.checksum},
           {"applied_at", m.applied_at},
           {"duration_ms", m.duration_ms},
           {"run_id", m.run_id},
           {"reversible", m.down_sql.has_value()},
           {"lock_trace", traces.count(m.version) ? trace_to_json(traces.at(m.version)) : json(nullptr)}});
    for (const auto& r : runs)
      j["runs"].push_back({{"id", r.id},
                           {"playbook", r.playbook},
                           {"environment", r.environment},
                           {"operator", r.operator_name},
                           {"host", r.host},
                           {"started", r.started},
                           {"finished", r.finished},
                           {"outcome", r.outcome},
                           {"version_before", r.version_before},
                           {"version_after", r.version_after},
                           {"backup_id", r.backup_id},
                           {"error", project.secrets.redact(r.error)}});
    for (const auto& e : events)
      j["events"].push_back(
          {{"at", e.at}, {"version", e.version}, {"name", e.name}, {"action", e.action}, {"run_id", e.run_id}});
    j["accepted_risks"] = accepted_risks_json(ledger);  // lint2
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::cout << paint(g, "1", "migrations applied in " + env_name) << " (" << applied.size() << ")\n";
  for (const auto& m : applied)
    std::cout << "  " << m.version << "_" << m.name << "  " << m.applied_at << "  " << m.duration_ms << "ms  run "
              << m.run_id << (m.down_sql ? "" : "  (irreversible)") << "\n";
  std::cout << paint(g, "1", "runs") << " (newest first)\n";
  for (const auto& r : runs) {
    std::cout << "  " << r.id << "  " << r.playbook << "  " << r.outcome << "  " << r.operator_name << "@" << r.host
              << "  " << or_none(r.version_before) << " -> " << or_none(r.version_after)
              << (r.backup_id.empty() ? "" : "  backup " + r.backup_id) << "\n";
    if (!r.error.empty()) std::cout << "      " << project.secrets.redact(first_line(r.error)) << "\n";
  }
  print_accepted_risks(std::cout, ledger);  // lint2
  if (locks) {
    std::map<std::string, std::string> labels;
    for (const auto& m : applied) labels[m.version] = m.version + "_" + m.name;
    print_traces(std::cout, traces, labels);
  }
  return 0;
}

int cmd_backups(const Globals& g, const std::string& env_name, bool as_json) {
  auto project = config::load_project(g.root);
  select_database(project, env_name, g.database, true);
  const auto& env = project.environment(env_name);
  if (!env.backup) throw Error(ErrorKind::Config, env.file + ": no 'backup:' section");
  steps::Transports transports(env);
  std::vector<std::string> warnings;
  auto all = steps::list_backups(env, transports, &warnings);
  for (const auto& w : warnings) std::cerr << "warning: " << w << "\n";
  if (as_json) {
    json a = json::array();
    for (const auto& b : all) {
      a.push_back(steps::backup_to_json(b, false));
      a.back()["schema_version"] = 1;  // in each element: the array stays as its readers know it
      a.back()["pinned"] = b.pinned;
      if (b.pinned) a.back()["pin_reason"] = b.pin_reason;
    }
    std::cout << a.dump(2) << "\n";
    return 0;
  }
  std::cout << paint(g, "1", "backups of " + env_name) << " in " << env.backup->dir << " (" << all.size() << ")\n";
  for (const auto& b : all)
    std::cout << "  " << b.id << "  " << b.time << "  " << b.size << " bytes  sha256 " << b.sha256.substr(0, 12)
              << "  version " << or_none(b.version) << "  " << (b.verified ? "verified" : "UNVERIFIED")
              << (b.pinned ? "  pinned (" + b.pin_reason + ")" : "") << "\n";
  return 0;
}

int cmd_new(const Globals& g, const std::string& name) {
  static const std::regex k_name("[A-Za-z0-9][A-Za-z0-9_-]*");
  if (!std::regex_match(name, k_name) || name.size() > 80)
    throw Error(ErrorKind::Config, "migration name '" + name + "' must be letters, digits, '_' and '-'");
  fs::path dir = fs::path(g.root) / "migrations";
  auto existing = migrate::load_migrations(dir.string(), "migrations");
  std::string next = "1";
  size_t width = 4;
  if (!existing.empty()) {
    const auto& last = existing.back().version;
    width = last.size();
    // increment the decimal string
    std::string v = last;
    int i = static_cast<int>(v.size()) - 1;
    while (i >= 0 && v[i] == '9') v[i--] = '0';
    if (i < 0)
      v.insert(v.begin(), '1');
    else
      v[i]++;
    next = v;
  }
  if (next.size() < width) next = std::string(width - next.size(), '0') + next;
  fs::path mdir = dir / (next + "_" + name);
  fs::create_directories(mdir);
  std::ofstream(mdir / "up.sql") << "-- " << next << "_" << name << ": describe the change here\n";
  std::ofstream(mdir / "down.sql") << "-- undo " << next << "_" << name << "\n";
  std::cout << "created migrations/" << next << "_" << name << "/up.sql and down.sql\n";
  return 0;
}

}  // namespace ferry::cli
