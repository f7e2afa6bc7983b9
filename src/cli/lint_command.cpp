#include "cli/lint_command.hpp"

#include <CLI/CLI.hpp>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>

#include "config/loader.hpp"
#include "core/error.hpp"
#include "core/text.hpp"
#include "db/ledger.hpp"
#include "db/sizes.hpp"
#include "migrate/lint/lint.hpp"
#include "migrate/alembic.hpp"
#include "migrate/lint/pending.hpp"
#include "run/preflight.hpp"
#include "run/target.hpp"
#include "steps/context.hpp"

using nlohmann::json;
namespace lint = ferry::migrate::lint;

namespace ferry::cli {

namespace {
using lint::Linted;

// One stage (or the offline pseudo-target) and what was found for it.
struct Target {
  std::string stage;  // "" offline
  std::string description;
  std::string unreachable;  // why the database could not be read, or ""
  std::vector<Linted> migrations;
  std::vector<std::string> preflight = {};  // problems the read-only preflight found on the target
};

// The migrations of `all` whose versions are in `only` (every one when null), in order.
std::vector<const migrate::Migration*> of(const std::vector<migrate::Migration>& all,
                                          const std::set<std::string>* only = nullptr) {
  std::vector<const migrate::Migration*> out;
  for (const auto& m : all)
    if (!only || only->count(m.version)) out.push_back(&m);
  return out;
}

std::string human_bytes(long long b) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  int u = 0;
  double v = static_cast<double>(b);
  while (v >= 1024 && u < 4) v /= 1024, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

std::string size_words(const lint::Finding& f) {
  if (f.table.empty()) return "";
  if (f.size_class == lint::SizeClass::New) return f.table + ": created earlier in this run";
  if (!f.size) return f.table + ": size unknown (counted as large)";
  std::string rows =
      f.size->rows < 0 ? "rows not estimated" : "~" + std::to_string(static_cast<long long>(f.size->rows)) + " rows";
  return f.table + ": " + rows + ", " + human_bytes(f.size->bytes);
}

json finding_json(const lint::Finding& f) {
  const lint::Rule& r = *lint::find_rule(f.code);
  json j = {{"code", f.code},
            {"rule", r.name},
            {"level", lint::level_name(f.level)},
            {"file", f.file},
            {"line", f.line},
            {"col", f.col},
            {"table", f.table.empty() ? json(nullptr) : json(f.table)},
            {"statement", f.statement},
            {"detail", f.detail},
            {"lock", r.lock.empty() ? json(nullptr) : json(r.lock)},
            {"work", r.work.empty() ? json(nullptr) : json(r.work)},
            {"why", r.why},
            {"safe", r.safe},
            {"accepted", f.accepted},
            {"reason", f.accepted ? json(f.accept_reason) : json(nullptr)}};
  static const char* k_sizes[] = {"small", "medium", "large", "new", "unknown"};
  j["size"] = f.table.empty() ? json(nullptr) : json(k_sizes[static_cast<int>(f.size_class)]);
  j["rows"] = f.size && f.size->rows >= 0 ? json(static_cast<long long>(f.size->rows)) : json(nullptr);
  j["bytes"] = f.size ? json(f.size->bytes) : json(nullptr);
  return j;
}

void print_text(const std::vector<Target>& targets, const std::string& title) {
  std::cout << title << "\n";
  for (const auto& t : targets) {
    std::cout << (t.stage.empty() ? "offline" : "stage " + t.stage) << "  " << t.description << "\n";
    if (!t.unreachable.empty())
      std::cout << "  unreachable: " << t.unreachable
                << "\n  every migration of the directory is linted; sizes unknown\n";
    size_t n = 0;
    for (const auto& l : t.migrations) n += l.findings.size();
    std::cout << "  " << t.migrations.size() << " migration(s) linted, " << n << " finding(s)\n";
    for (const auto& p : t.preflight) std::cout << "  preflight: " << p << "\n";
    for (const auto& l : t.migrations)
      for (const auto& f : l.findings) {
        const lint::Rule& r = *lint::find_rule(f.code);
        std::cout << "  " << f.file << ":" << f.line << ":" << f.col << ": " << f.code << " "
                  << lint::level_name(f.level) << (f.accepted ? " (accepted: " + f.accept_reason + ")" : "") << ": "
                  << f.detail << "\n";
        std::string effect = r.lock.empty() ? "" : lint::lock_display(r.lock) + " lock";
        if (!r.work.empty()) effect += (effect.empty() ? "" : ", ") + r.work;
        std::string size = size_words(f);
        if (!effect.empty() || !size.empty())
          std::cout << "      " << effect << (!effect.empty() && !size.empty() ? "; " : "") << size << "\n";
        std::cout << "      safe: " << r.safe << "\n";
      }
  }
}

// An Alembic playbook on one stage: the offline SQL from the stage's revision (from base when
// its database cannot be read), through the stage's `migrations.on` connection.
Target lint_alembic_stage(const config::Project& project, const config::Playbook& pb, const std::string& name,
                          bool offline, const lint::Thresholds& t) {
  const auto& env = project.environment(name);
  Target target{name, run::target_description(env), "", {}};
  steps::Transports transports(env);
  run::DbLink link;
  std::string current;
  if (offline) {
    target.stage.clear();
    target.description = "(no database read: every revision from base, sizes unknown)";
  } else {
    try {
      link = run::connect(env, &transports);
      current = migrate::alembic_current(*link.conn);
    } catch (const Error& e) {
      target.unreachable = project.secrets.redact(first_line(e.what()));
    }
  }
  target.migrations = lint::lint_alembic(transports.get(pb.migrations.on), pb.migrations, current,
                                         link.conn ? link.conn.get() : nullptr, t);
  if (link.conn && !target.migrations.empty())
    target.preflight =
        run::preflight_problems(*link.conn, lint::finding_tables(target.migrations), run::migrate_spec(pb));
  return target;
}

// Every pending migration of every stage (all of them when a database cannot be read).
std::vector<Target> lint_targets(const config::Project& project, const std::optional<config::Playbook>& pb,
                                 const std::vector<migrate::Migration>& files, const LintOptions& o,
                                 const lint::Thresholds& t) {
  long long lt = lint::migrate_lock_timeout_ms(pb ? &*pb : nullptr);
  if (pb && pb->migrations.driver == config::Driver::Alembic) {
    if (pb->stages.empty()) throw Error(ErrorKind::Config, "playbook '" + pb->name + "' has no stages");
    if (o.offline) return {lint_alembic_stage(project, *pb, pb->stages.front(), true, t)};
    std::vector<Target> out;
    for (const auto& name : pb->stages) out.push_back(lint_alembic_stage(project, *pb, name, false, t));
    return out;
  }
  if (o.offline)
    return {Target{"", "(no database read: sizes unknown)", "", lint::lint_native(of(files), lt, nullptr, t)}};
  std::vector<std::string> stages = pb ? pb->stages : std::vector<std::string>{};
  if (!pb)
    for (const auto& [name, env] : project.environments) stages.push_back(name);
  if (stages.empty())
    return {Target{"", "(no environment: sizes unknown)", "", lint::lint_native(of(files), lt, nullptr, t)}};
  std::vector<Target> out;
  for (const auto& name : stages) {
    const auto& env = project.environment(name);
    Target target{name, run::target_description(env), "", {}};
    try {
      auto link = run::connect(env);
      db::Ledger ledger(*link.conn);
      auto plan = migrate::make_plan(files, ledger.applied());
      std::set<std::string> pending;
      for (const auto& p : plan.pending) pending.insert(p.version);
      target.migrations = lint::lint_native(of(files, &pending), lt, link.conn.get(), t);
      if (!target.migrations.empty())
        target.preflight = run::preflight_problems(*link.conn, lint::finding_tables(target.migrations),
                                                   pb ? run::migrate_spec(*pb) : config::StepSpec{});
    } catch (const Error& e) {
      target.unreachable = project.secrets.redact(first_line(e.what()));
      target.migrations = lint::lint_native(of(files), lt, nullptr, t);
    }
    out.push_back(std::move(target));
  }
  return out;
}
}  // namespace

CLI::App* add_lint_command(CLI::App& app, LintOptions& o) {
  auto* c = app.add_subcommand("lint", "the risk of every pending migration on every stage; changes nothing");
  c->add_option("PLAYBOOK", o.playbook,
                "a playbook name under playbooks/, or a path (default: migrations/ on every environment)");
  c->add_flag("--offline", o.offline, "lint every migration without connecting (table sizes unknown)");
  c->add_flag("--json", o.json, "machine-readable output");
  c->add_flag("--rules", o.rules, "print the rules (docs/lint.md) and exit");
  c->add_option("--fail-on", o.fail_on, "exit 3 when a finding not accepted reaches this level (default: high)")
      ->check(CLI::IsMember({"low", "medium", "high"}));
  c->add_option("--medium-rows", o.medium_rows, "rows from which a table is medium (default 100000)");
  c->add_option("--high-rows", o.high_rows, "rows from which a table is large (default 1000000)");
  return c;
}

int cmd_lint(const Globals& g, const LintOptions& o) {
  if (o.rules) {
    std::cout << lint::rules_markdown();
    return 0;
  }
  lint::Thresholds t;
  if (o.medium_rows) t.medium_rows = *o.medium_rows;
  if (o.high_rows) t.high_rows = *o.high_rows;
  auto project = config::load_project(g.root);
  std::optional<config::Playbook> pb;
  if (!o.playbook.empty()) pb = config::load_playbook(project, o.playbook);
  bool alembic = pb && pb->migrations.driver == config::Driver::Alembic;
  auto files = alembic ? std::vector<migrate::Migration>{}
                       : run::load_playbook_migrations(project, pb ? pb->migrations : config::MigrationsSource{});
  auto targets = lint_targets(project, pb, files, o, t);
  lint::Level fail_on = *lint::parse_level(o.fail_on);
  std::map<std::string, int> counts;
  int reaching = 0, accepted = 0;
  for (const auto& tg : targets)
    for (const auto& l : tg.migrations)
      for (const auto& f : l.findings) {
        ++counts[lint::level_name(f.level)];
        accepted += f.accepted;
        reaching += !f.accepted && f.level >= fail_on;
      }
  int code = reaching > 0 ? exit_code::k_refused : 0;
  if (o.json) {
    json j = {{"schema_version", 1}, {"fail_on", o.fail_on}, {"exit_code", code}, {"targets", json::array()}};
    for (const auto& tg : targets) {
      json jt = {{"stage", tg.stage.empty() ? json(nullptr) : json(tg.stage)},
                 {"reachable", tg.unreachable.empty() && !tg.stage.empty()},
                 {"error", tg.unreachable.empty() ? json(nullptr) : json(tg.unreachable)},
                 {"migrations", json::array()},
                 {"preflight", tg.preflight}};
      for (const auto& l : tg.migrations) {
        json jm = {{"id", l.id}, {"file", l.file}, {"findings", json::array()}};
        for (const auto& f : l.findings) jm["findings"].push_back(finding_json(f));
        jt["migrations"].push_back(jm);
      }
      j["targets"].push_back(jt);
    }
    std::cout << j.dump(2) << "\n";
    return code;
  }
  print_text(targets, "lint " + (pb ? pb->name : std::string("migrations/")) + "  (fail on " + o.fail_on + ")");
  std::cout << "lint: " << counts["high"] << " high, " << counts["medium"] << " medium, " << counts["low"] << " low";
  if (accepted) std::cout << "; " << accepted << " accepted";
  std::cout << "; " << (reaching ? std::to_string(reaching) + " reach" : std::string("nothing reaches"))
            << " --fail-on " << o.fail_on << "\n";
  return code;
}

void print_plan_lint(std::ostream& os, const config::Playbook& pb, db::Connection& conn,
                     const std::vector<lint::Linted>& linted) {
  bool any = false;
  for (const auto& l : linted) {
    if (l.findings.empty()) continue;
    any = true;
    os << "  lint " << l.id << ":";
    std::string sep = " ";
    for (const auto& f : l.findings) {
      os << sep << f.code << " " << lint::level_name(f.level) << (f.table.empty() ? "" : " (" + f.table + ")")
         << (f.accepted ? " accepted" : "");
      sep = ", ";
    }
    os << "\n";
  }
  if (!any && !linted.empty()) os << "  lint: no findings\n";
  if (linted.empty()) return;
  for (const auto& p : run::preflight_problems(conn, lint::finding_tables(linted), run::migrate_spec(pb)))
    os << "  preflight: " << p << "\n";
}

void print_plan_lint(std::ostream& os, const config::Playbook& pb, db::Connection& conn,
                     const std::vector<migrate::Migration>& pending) {
  print_plan_lint(os, pb, conn,
                  lint::lint_native(pending, lint::migrate_lock_timeout_ms(&pb), &conn, lint::Thresholds{}));
}

void print_plan_lint_alembic(std::ostream& os, const config::Playbook& pb, db::Connection& conn,
                             transport::Transport& on, const std::string& current) {
  std::vector<lint::Linted> linted;
  try {
    linted = lint::lint_alembic(on, pb.migrations, current, &conn, lint::Thresholds{});
  } catch (const Error&) {  // its text may carry the command's output: not printed here
    os << "  lint: not available (`alembic upgrade --sql` failed; `ferry lint " << pb.name << "` shows why)\n";
    return;
  }
  print_plan_lint(os, pb, conn, linted);
}

json accepted_risks_json(db::Ledger& ledger) {
  json a = json::array();
  for (const auto& r : ledger.accepted_risks(100))
    a.push_back({{"at", r.at},
                 {"run_id", r.run_id},
                 {"version", r.version},
                 {"code", r.code},
                 {"reason", r.reason},
                 {"location", r.location}});
  return a;
}

void print_accepted_risks(std::ostream& os, db::Ledger& ledger) {
  auto risks = ledger.accepted_risks(100);
  if (risks.empty()) return;
  os << "accepted risks (newest first)\n";
  for (const auto& r : risks)
    os << "  " << r.at << "  " << r.version << "  " << r.code << "  run " << r.run_id << "  " << r.location
       << "\n      reason: " << r.reason << "\n";
}

}  // namespace ferry::cli
