// The simple steps: migrate (delegates to apply_migrations), sql, run, verify.
#include "core/text.hpp"
#include "db/introspect.hpp"
#include "log/log.hpp"
#include "core/interrupt.hpp"
#include "steps/ferry_env.hpp"
#include "steps/recovery.hpp"
#include "steps/step.hpp"

namespace ferry::steps {

namespace {

// How long a `run:` step on this machine has after a stop's SIGTERM before its process group
// gets SIGKILL (docs/reference.md).
constexpr Millis k_run_kill_after{10000};

// Restores this run's backup for an undo; the restore reports its own line.
std::string restore_for_undo(StageContext& ctx, const std::string& why) {
  if (!restore_run_backup(ctx, why)) throw Error(ErrorKind::Command, "the database could not be restored");
  return "";
}

class MigrateStep : public Step {
 public:
  using Step::Step;
  std::string run(StageContext& ctx) override { return ctx.driver->apply(ctx, m_spec); }
  // The driver reverts (down SQL, downgrade), or the backup is restored when the rollback
  // choice says so; with `auto`, a failed revert falls back to the backup.
  std::string undo(StageContext& ctx) override {
    if (ctx.database_as_before) return "";
    const auto& pb = ctx.playbook;
    auto choice = ctx.driver->rollback_for_run(pb, ctx);
    bool changed = ctx.driver->changed(ctx);
    if (pb.rollback == config::RollbackMethod::Restore || (choice.method == RollbackMethod::Restore && changed))
      return restore_for_undo(ctx, choice.reason);
    if (!changed) return "";
    Stopwatch sw;
    try {
      return ctx.driver->revert_run(ctx);
    } catch (const Error& e) {
      if (pb.rollback != config::RollbackMethod::Auto) throw;
      ctx.reporter.step_compensated(name(), false, e.what(), sw.elapsed());
      return restore_for_undo(ctx, "undoing the migrations failed");
    }
  }
  bool changes_database() const override { return true; }
};

class SqlStep : public Step {
 public:
  using Step::Step;
  std::string run(StageContext& ctx) override {
    log::trace("sql: " + m_spec.sql);
    auto r = ctx.db.exec(m_spec.sql);
    if (r.single_bool() && (r.is_null(0, 0) || !r.boolean(0, 0))) throw Error(ErrorKind::Verify, "returned false");
    return r.rows() == 1 && r.cols() == 1 ? "returned " + r.text(0, 0) : "done";
  }
  // Arbitrary SQL has no down: with `rollback: restore` the backup undoes it, else the proof
  // says whether anything of it is left.
  std::string undo(StageContext& ctx) override {
    if (ctx.database_as_before || ctx.playbook.rollback != config::RollbackMethod::Restore) return "";
    return restore_for_undo(ctx, ctx.driver->rollback_for_run(ctx.playbook, ctx).reason);
  }
  bool changes_database() const override { return true; }
};

class RunStep : public Step {
 public:
  using Step::Step;
  std::string run(StageContext& ctx) override {
    // bash with pipefail: `pg_dump ... | gzip > f` fails when pg_dump does. ${VAR} values reach
    // the shell through its environment, never through its text.
    transport::Command cmd;
    cmd.argv = {"bash", "-o", "pipefail", "-c", m_spec.command};
    cmd.env = m_spec.env;
    add_ferry_env(cmd.env, {ctx.run_id, ctx.playbook.name, ctx.env.name, "", ctx.backup ? ctx.backup->id : "",
                            ctx.backup ? ctx.backup->file : ""});
    cmd.timeout = m_spec.timeout;
    auto& t = ctx.transports.get(m_spec.on);
    if (ctx.env.connections.at(m_spec.on).type == config::ConnectionType::Local) {
      // Commands on this machine run in the project root; on other hosts, where they land.
      cmd.cwd = ctx.project.root;
      // A stop (SIGINT/SIGTERM) ends a command here (its whole process group) and the stage
      // rolls back. Elsewhere the command is waited for: over ssh a stop cannot end it, and
      // docker/kubectl exec would end only the client while the command goes on in the
      // container, so a rollback would run beside it.
      cmd.should_stop = [] { return interrupted(); };
      cmd.kill_after_stop = k_run_kill_after;  // one that ignores SIGTERM is not waited for without end
    }
    log::debug("run on " + t.describe() + ": " + m_spec.command);
    auto res = t.run(cmd);
    if (res.stopped)
      throw Error(ErrorKind::Command,
                  "interrupted by " + interrupt_name() + "; the command was stopped on " + t.describe() +
                      (res.killed_after_stop ? " (it outlived SIGTERM by " + format_duration(k_run_kill_after) +
                                                   " and was killed)"
                                             : ""));
    if (res.timed_out)
      throw Error(ErrorKind::Command, "timed out after " + format_duration(*m_spec.timeout) + " on " + t.describe());
    if (res.exit_code != 0)
      throw Error(ErrorKind::Command, "exited with " + std::to_string(res.exit_code) + " on " + t.describe() +
                                          (res.failure_text().empty() ? "" : ": " + res.failure_text()));
    std::string last = res.last_line();
    return last.empty() ? "exit 0" : last;
  }
};

class VerifyStep : public Step {
 public:
  using Step::Step;
  std::string run(StageContext& ctx) override {
    int checks = 0;
    std::vector<std::string> failures;
    for (const auto& c : m_spec.columns) {
      ++checks;
      std::string ref = c.table + "." + c.column;
      auto found = db::column_type(ctx.db, c.table, c.column);
      if (!found) {
        failures.push_back("column " + ref + ": expected to exist, found absent");
        continue;
      }
      if (c.type.empty()) continue;
      std::string want = db::canonical_type(ctx.db, c.type);
      std::string base = *found;
      if (auto p = base.find('('); p != std::string::npos && c.type.find('(') == std::string::npos)
        base = base.substr(0, p);
      if (want != *found && c.type != *found && want != base)
        failures.push_back("column " + ref + ": expected type '" + c.type + "', found '" + *found + "'");
    }
    for (const auto& c : m_spec.absent_columns) {
      ++checks;
      if (auto found = db::column_type(ctx.db, c.table, c.column))
        failures.push_back("column " + c.table + "." + c.column + ": expected absent, found " + *found);
    }
    if (m_spec.row_counts_all || !m_spec.row_count_tables.empty()) {
      auto now = db::row_counts(ctx.db, m_spec.row_count_tables);
      for (const auto& [table, n] : now) {
        ++checks;
        auto it = ctx.baseline.row_counts.find(table);
        if (it == ctx.baseline.row_counts.end()) {
          if (!m_spec.row_counts_all) failures.push_back("rows " + table + ": no count before the run (new table)");
          continue;
        }
        if (it->second != n)
          failures.push_back("rows " + table + ": expected " + std::to_string(it->second) + ", found " +
                             std::to_string(n));
      }
      for (const auto& [table, n] : ctx.baseline.row_counts) {
        if (m_spec.row_counts_all && !now.count(table))
          failures.push_back("rows " + table + ": table had " + std::to_string(n) + " rows and is gone");
      }
    }
    for (const auto& sql : m_spec.assertions) {
      ++checks;
      try {
        log::trace("sql: " + sql);
        auto r = ctx.db.exec(sql);
        if (!r.single_bool())
          failures.push_back("sql '" + first_line(sql) + "': expected one boolean, found " + std::to_string(r.rows()) +
                             " row(s)");
        else if (r.is_null(0, 0) || !r.boolean(0, 0))
          failures.push_back("sql '" + first_line(sql) + "': expected true, found " +
                             (r.is_null(0, 0) ? "null" : "false"));
      } catch (const db::DbError& e) {
        failures.push_back("sql '" + first_line(sql) + "': " + e.what());
      }
    }
    if (!failures.empty()) {
      std::string msg = std::to_string(failures.size()) + " of " + std::to_string(checks) + " checks failed";
      for (const auto& f : failures) msg += "\n" + f;
      throw Error(ErrorKind::Verify, msg);
    }
    return std::to_string(checks) + " checks passed";
  }
};

}  // namespace

std::unique_ptr<Step> make_step_extra(const config::StepSpec& spec);  // steps/service.cpp, backup.cpp

std::string current_version(StageContext& ctx) { return ctx.driver->current_version(ctx.db, ctx.ledger); }

void guard_lock(db::Ledger& ledger) {
  if (!ledger.lock_held())
    throw Error(ErrorKind::Database, "ferry's database session was lost, and with it the lock",
                "nothing more is changed; check `ferry status` and `ferry history`");
}

std::unique_ptr<Step> make_step(const config::StepSpec& spec) {
  switch (spec.kind) {
    case config::StepKind::Migrate:
      return std::make_unique<MigrateStep>(spec);
    case config::StepKind::Sql:
      return std::make_unique<SqlStep>(spec);
    case config::StepKind::Run:
      return std::make_unique<RunStep>(spec);
    case config::StepKind::Verify:
      return std::make_unique<VerifyStep>(spec);
    default:
      return make_step_extra(spec);
  }
}

}  // namespace ferry::steps
