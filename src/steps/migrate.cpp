#include <algorithm>

#include "core/text.hpp"
#include "migrate/sql_parser.hpp"
#include "run/interrupt.hpp"
#include "steps/step.hpp"

namespace ferry::steps {

namespace {
// Runs each statement; a failure names FILE:LINE:COL of the statement.
void exec_statements(db::Connection& db, const std::string& sql, const std::string& file) {
  for (const auto& st : migrate::split_statements(sql, file)) {
    if (run::interrupted()) throw Error(ErrorKind::Command, "interrupted by " + run::interrupt_name());
    try {
      db.exec(st.text);
    } catch (const db::DbError& e) {
      if (run::interrupted())
        throw Error(ErrorKind::Command, "interrupted by " + run::interrupt_name() + " at " + file +
                                            ":" + std::to_string(st.line));
      throw db::DbError(file + ":" + std::to_string(st.line) + ":" + std::to_string(st.col) + ": " +
                            e.what(),
                        e.sqlstate(), e.position());
    }
  }
}

std::string span(const std::vector<db::AppliedMigration>& ms) {
  if (ms.empty()) return "nothing";
  std::string first = ms.front().version + "_" + ms.front().name;
  if (ms.size() == 1) return first;
  return first + " .. " + ms.back().version + "_" + ms.back().name;
}
}  // namespace

void run_checks(db::Connection& db, const std::string& sql, const std::string& file) {
  for (const auto& st : migrate::split_statements(sql, file)) {
    db::Result r = [&] {
      try {
        return db.exec(st.text);
      } catch (const db::DbError& e) {
        throw db::DbError(file + ":" + std::to_string(st.line) + ": " + e.what(), e.sqlstate(),
                          e.position());
      }
    }();
    if (r.single_bool() && (r.is_null(0, 0) || !r.boolean(0, 0)))
      throw Error(ErrorKind::Verify, file + ":" + std::to_string(st.line) + ": check returned " +
                                         (r.is_null(0, 0) ? "null" : "false") + ": " +
                                         first_line(st.text));
  }
}

std::string apply_migrations(StageContext& ctx, bool each, Millis lock_timeout) {
  auto& db = ctx.db;
  std::string lt = "SET LOCAL lock_timeout = '" + std::to_string(lock_timeout.count()) + "ms'";
  std::vector<db::AppliedMigration> staged;  // in the open transaction, not yet committed
  bool open = false;
  auto commit = [&] {
    if (!open) return;
    db.exec("COMMIT");
    open = false;
    for (auto& m : staged) ctx.applied_this_run.push_back(std::move(m));
    staged.clear();
  };
  size_t total = ctx.plan.pending.size();
  size_t done = 0;
  try {
    for (const auto& m : ctx.plan.pending) {
      if (run::interrupted()) throw Error(ErrorKind::Command, "interrupted by " + run::interrupt_name());
      ctx.reporter.step_progress("migrate", std::to_string(done) + "/" + std::to_string(total) +
                                                " " + m.id());
      Stopwatch sw;
      db::AppliedMigration rec;
      rec.version = m.version;
      rec.name = m.name;
      rec.checksum = m.checksum;
      if (!m.irreversible) rec.down_sql = m.down_sql;
      rec.run_id = ctx.run_id;
      rec.down_restores_data = m.down_restores_data;
      rec.destroys_data = !migrate::destroys_data(m.up_sql).empty();
      try {
        if (m.no_transaction) {
          commit();  // what came before is committed first (SPEC 4.1)
          db.exec("SET lock_timeout = '" + std::to_string(lock_timeout.count()) + "ms'");
          exec_statements(db, m.up_sql, m.dir + "/up.sql");
          if (m.verify_sql) run_checks(db, *m.verify_sql, m.dir + "/verify.sql");
          db.exec("RESET lock_timeout");
          rec.duration_ms = sw.elapsed().count();
          ctx.ledger.record_applied(rec);
          ctx.applied_this_run.push_back(rec);
        } else {
          if (!open) {
            db.exec("BEGIN");
            db.exec(lt);
            open = true;
          }
          exec_statements(db, m.up_sql, m.dir + "/up.sql");
          if (m.verify_sql) run_checks(db, *m.verify_sql, m.dir + "/verify.sql");
          rec.duration_ms = sw.elapsed().count();
          ctx.ledger.record_applied(rec);
          staged.push_back(rec);
          if (each) commit();
        }
      } catch (const Error& e) {
        std::string what = m.id() + ": " + e.what();
        if (m.no_transaction)
          what += "\n(no-transaction migration: statements before the failing one stay applied)";
        throw Error(e.kind(), what, e.hint());
      }
      ++done;
    }
    commit();
  } catch (...) {
    db.rollback_if_open();
    try {
      db.exec("RESET lock_timeout");
    } catch (...) {
    }
    throw;
  }
  if (ctx.applied_this_run.empty()) return "nothing to apply, at " + (ctx.plan.current.empty() ? std::string("no version") : ctx.plan.current);
  return "applied " + std::to_string(ctx.applied_this_run.size()) + ": " + span(ctx.applied_this_run);
}

std::string revert_migrations(StageContext& ctx) {
  auto& db = ctx.db;
  size_t reverted = 0;
  while (!ctx.applied_this_run.empty()) {
    const auto& m = ctx.applied_this_run.back();
    std::string id = m.version + "_" + m.name;
    if (!m.down_sql)
      throw Error(ErrorKind::Command, id + " is irreversible (no down SQL)");
    try {
      db.exec("BEGIN");
      exec_statements(db, *m.down_sql, id + "/down.sql (stored)");
      ctx.ledger.record_reverted(m.version, ctx.run_id);
      db.exec("COMMIT");
    } catch (const Error& e) {
      db.rollback_if_open();
      throw Error(e.kind(), "down SQL of " + id + " failed: " + e.what());
    }
    ctx.applied_this_run.pop_back();
    ++reverted;
  }
  return "reverted " + std::to_string(reverted) + " by down SQL";
}

}  // namespace ferry::steps
