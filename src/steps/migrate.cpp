#include <algorithm>
#include <random>
#include <thread>

#include "core/duration.hpp"
#include "core/text.hpp"
#include "db/blockers.hpp"
#include "db/ledger_lock_trace.hpp"
#include "log/log.hpp"
#include "migrate/lint/record.hpp"
#include "migrate/sql_parser.hpp"
#include "core/interrupt.hpp"
#include "steps/lock_trace.hpp"
#include "steps/step.hpp"

namespace ferry::steps {

namespace {
// Runs each statement (through `tracer` when tracing); a failure names FILE:LINE:COL of the statement.
void exec_statements(db::Connection& db, const std::string& sql, const std::string& file, Tracer* tracer = nullptr) {
  for (const auto& st : migrate::split_statements(sql, file)) {
    if (interrupted()) throw Error(ErrorKind::Command, "interrupted by " + interrupt_name());
    try {
      log::trace("sql: " + st.text);
      if (tracer)
        tracer->exec(st, file);
      else
        db.exec(st.text);
    } catch (const db::DbError& e) {
      if (interrupted())
        throw Error(ErrorKind::Command,
                    "interrupted by " + interrupt_name() + " at " + file + ":" + std::to_string(st.line));
      throw db::DbError(file + ":" + std::to_string(st.line) + ":" + std::to_string(st.col) + ": " + e.what(),
                        e.sqlstate(), e.position());
    }
  }
}

// A migration's transaction hit lock_timeout (55P03) and was rolled back: nothing of it stays.
struct LockBusy {
  std::string what;  // "0002_x/up.sql:3:1: canceling statement due to lock timeout"
};

bool lock_timed_out(const Error& e) {
  auto* dbe = dynamic_cast<const db::DbError*>(&e);
  return dbe && dbe->sqlstate() == "55P03";
}

// Exponential backoff from 1 s, capped at `cap`, with jitter: a random wait in [3/4, 1] of it.
Millis backoff(int attempt, Millis cap) {
  long long ms = 1'000;
  for (int a = 1; a < attempt && ms < cap.count(); ++a) ms *= 2;
  ms = std::min(ms, static_cast<long long>(cap.count()));
  static std::mt19937 rng{std::random_device{}()};
  return Millis(std::uniform_int_distribution<long long>(ms * 3 / 4, ms)(rng));
}

// Names the likely blocker and waits before attempt `attempt` (2 = the first retry). A signal
// ends the wait at once.
void wait_for_lock(StageContext& ctx, const LockBusy& busy, int attempt, const config::StepSpec& spec) {
  std::string who;
  try {
    for (const auto& h : db::table_lock_holders(ctx.db, ctx.db.backend_pid()))
      who += (who.empty() ? "" : "; ") + db::describe(h);
  } catch (const Error& e) {
    who = "(could not read pg_locks: " + std::string(e.what()) + ")";
  }
  Millis wait = backoff(attempt - 1, spec.lock_retry_max);
  ctx.reporter.message(report::Level::Warn, "lock_timeout (" + format_duration(spec.lock_timeout) + ") at " +
                                                busy.what + "; rolled back, attempt " + std::to_string(attempt) +
                                                " of " + std::to_string(spec.lock_retries + 1) + " in " +
                                                format_duration(wait) + "; blocked by " +
                                                (who.empty() ? "no session holding a table lock now" : who));
  auto until = std::chrono::steady_clock::now() + wait;
  while (std::chrono::steady_clock::now() < until) {
    if (interrupted())
      throw Error(ErrorKind::Command, "interrupted by " + interrupt_name() + " while waiting to retry " + busy.what);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
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
        throw db::DbError(file + ":" + std::to_string(st.line) + ": " + e.what(), e.sqlstate(), e.position());
      }
    }();
    if (r.single_bool() && (r.is_null(0, 0) || !r.boolean(0, 0)))
      throw Error(ErrorKind::Verify, file + ":" + std::to_string(st.line) + ": check returned " +
                                         (r.is_null(0, 0) ? "null" : "false") + ": " + first_line(st.text));
  }
}

db::AppliedMigration record_for(const migrate::Migration& m, const std::string& run_id) {
  db::AppliedMigration rec;
  rec.version = m.version;
  rec.name = m.name;
  rec.checksum = m.checksum;
  if (!m.irreversible) rec.down_sql = m.down_sql;
  rec.run_id = run_id;
  rec.down_restores_data = m.down_restores_data;
  rec.destroys_data = !migrate::data_loss(m).empty();
  return rec;
}

namespace {
constexpr size_t k_batch = 50;

[[noreturn]] void fail(const migrate::Migration& m, const Error& e) {
  std::string what = m.id() + ": " + e.what();
  if (m.no_transaction) what += "\n(no-transaction migration: statements before the failing one stay applied)";
  throw Error(e.kind(), what, e.hint());
}

// Applies a plan's pending migrations. Consecutive plain migrations go to the server together,
// in ONE round trip: with `each`, for each one BEGIN, a timestamp, its statements, its ledger
// row and COMMIT; with `all`, for each a time mark and its statements, then one statement
// recording the whole batch (db/ledger.hpp). The index of a failing statement tells which
// migration and which line failed. A no-transaction migration, or one with verify.sql, goes
// alone. A lock_timeout rolls the transaction back and retries from its first migration.
class Applier {
 public:
  Applier(StageContext& ctx, const config::StepSpec& spec, const std::vector<migrate::Migration>& pending)
      : m_ctx(ctx),
        m_db(ctx.db),
        m_spec(spec),
        m_each(spec.transaction_each),
        m_pending(pending),
        m_base(ctx.applied_this_run.size()),
        m_lt("SET LOCAL lock_timeout = '" + std::to_string(spec.lock_timeout.count()) + "ms'"),
        m_trace(tracing(spec, ctx.env)) {}

  void run() {
    try {
      if (m_trace) {
        db::ensure_lock_traces(m_db);  // before any transaction: its DDL is no migration's lock
        m_start = db::user_tables(m_db);
      }
      size_t i = 0;
      while (i < m_pending.size()) {
        try {
          i = step(i);
        } catch (const LockBusy& busy) {
          // Nothing of the rolled-back transaction stays: start again from its first migration.
          i = m_done = m_ctx.applied_this_run.size() - m_base;
          ++m_attempt;
          wait_for_lock(m_ctx, busy, m_attempt, m_spec);
        }
      }
      commit();
    } catch (...) {
      m_db.rollback_if_open();
      try {
        m_db.exec("RESET lock_timeout");
      } catch (...) {
      }
      throw;
    }
  }

 private:
  // From migration i: a batch of plain ones, or one on its own. Returns the next index.
  size_t step(size_t i) {
    size_t j = i;
    while (!m_trace && j < m_pending.size() && j - i < k_batch && !m_pending[j].no_transaction &&
           !m_pending[j].verify_sql)
      ++j;
    if (j > i) {
      send_batch(i, j);
      if (m_each) m_open = false;
      return j;
    }
    apply_alone(m_pending[i]);
    ++m_done;
    return i + 1;
  }

  void commit() {
    if (!m_open) return;
    m_db.exec("COMMIT");
    m_open = false;
    for (auto& m : m_staged) m_ctx.applied_this_run.push_back(std::move(m));
    m_staged.clear();
  }
  void begin() {
    if (m_open) return;
    m_db.exec("BEGIN;" + m_lt);
    m_open = true;
  }
  void progress(const migrate::Migration& m) {
    m_ctx.reporter.step_progress("migrate",
                                 std::to_string(m_done) + "/" + std::to_string(m_pending.size()) + " " + m.id());
  }

  void send_batch(size_t from, size_t to) {
    if (interrupted()) throw Error(ErrorKind::Command, "interrupted by " + interrupt_name());
    if (!m_each) begin();
    std::vector<std::string> script;                // one statement each
    std::vector<std::pair<size_t, size_t>> ranges;  // statement index range of each migration's up.sql
    std::vector<db::AppliedMigration> recs;
    // `each`: its own transaction and ledger row per migration. `all`: a time mark before each
    // migration, and the batch's ledger rows in one statement after the last (db/ledger.hpp).
    for (size_t i = from; i < to; ++i) {
      const auto& m = m_pending[i];
      recs.push_back(record_for(m, m_ctx.run_id));
      if (m_each) script.insert(script.end(), {"BEGIN", m_lt});
      script.push_back(m_each ? db::Ledger::start_mark(true) : db::Ledger::batch_mark(i - from));
      size_t first = script.size();
      for (auto& st : migrate::split_statements(m.up_sql, m.dir + "/up.sql")) script.push_back(std::move(st.text));
      ranges.push_back({first, script.size()});
      if (m_each) script.insert(script.end(), {m_ctx.ledger.record_applied_sql(recs.back()), "COMMIT"});
    }
    if (!m_each)
      script.insert(script.end(), {db::Ledger::batch_mark(to - from), m_ctx.ledger.record_applied_batch_sql(recs)});
    progress(m_pending[from]);
    try {
      for (const auto& st : script) log::trace("sql: " + st);
      m_db.exec_script(script);
    } catch (const db::DbError& e) {
      batch_failed(e, from, ranges, recs);
    }
    for (auto& r : recs) (m_each ? m_ctx.applied_this_run : m_staged).push_back(std::move(r));
    m_done += to - from;
  }

  // Which migration and line of the batch failed; what before it stays (committed or staged).
  [[noreturn]] void batch_failed(const db::DbError& e, size_t from,
                                 const std::vector<std::pair<size_t, size_t>>& ranges,
                                 const std::vector<db::AppliedMigration>& recs) {
    size_t failed = static_cast<size_t>(std::max(0, e.statement_index()));
    size_t k = 0;
    while (k + 1 < ranges.size() && failed >= ranges[k + 1].first - (m_each ? 3 : 1)) ++k;
    // Everything before migration k succeeded: committed (each) or staged (all).
    for (size_t i = 0; i < k; ++i) (m_each ? m_ctx.applied_this_run : m_staged).push_back(recs[i]);
    m_db.rollback_if_open();
    m_open = false;
    if (!m_each) m_staged.clear();  // the whole transaction is gone
    const auto& m = m_pending[from + k];
    if (interrupted()) throw Error(ErrorKind::Command, "interrupted by " + interrupt_name() + " in " + m.id());
    std::string where = m.dir + "/up.sql";
    if (failed >= ranges[k].first && failed < ranges[k].second) {
      auto st = migrate::split_statements(m.up_sql, where)[failed - ranges[k].first];
      where += ":" + std::to_string(st.line) + ":" + std::to_string(st.col);
    } else if (failed >= ranges[k].second) {
      where += " (recording it in ferry.migrations)";
    }
    // `all`: the batch's rows are one statement, after its last migration (any of them may be the refused row)
    bool batch_rows = !m_each && failed >= ranges.back().second;
    if (batch_rows) where = "recording " + m_pending[from].id() + " .. " + m.id() + " in ferry.migrations";
    if (e.sqlstate() == "55P03" && m_attempt <= m_spec.lock_retries) throw LockBusy{where + ": " + e.what()};
    if (batch_rows) throw Error(e.kind(), where + ": " + e.what(), e.hint());
    fail(m, db::DbError(where + ": " + e.what(), e.sqlstate(), e.position()));
  }

  // The migration's statements, one by one; traced (and the trace stored) when this step traces.
  void exec_up(const migrate::Migration& m) {
    std::string file = m.dir + "/up.sql";
    if (!m_trace) return exec_statements(m_db, m.up_sql, file);
    Tracer tracer(m_db, m_ctx.env.name, !m.no_transaction, m_start);
    exec_statements(m_db, m.up_sql, file, &tracer);
    db::store_lock_trace(m_db, m.version, m_ctx.run_id, m_ctx.env.name, trace_json(tracer.trace()));
  }

  // One migration on its own: no-transaction, with verify.sql (checked statement by statement), or
  // traced.
  void apply_alone(const migrate::Migration& m) {
    if (interrupted()) throw Error(ErrorKind::Command, "interrupted by " + interrupt_name());
    progress(m);
    auto rec = record_for(m, m_ctx.run_id);
    try {
      if (m.no_transaction) {
        commit();                         // what came before is committed first (SPEC 4.1)
        m_ctx.ledger.mark_applying(rec);  // outlives a kill between the statements and the ledger row
        m_db.exec("SET lock_timeout = '" + std::to_string(m_spec.lock_timeout.count()) + "ms'");
        m_db.exec(db::Ledger::start_mark(false));
        exec_up(m);
        if (m.verify_sql) run_checks(m_db, *m.verify_sql, m.dir + "/verify.sql");
        m_db.exec("RESET lock_timeout");
        m_db.exec(m_ctx.ledger.record_applied_sql(rec));
        m_ctx.applied_this_run.push_back(rec);
      } else {
        begin();
        m_db.exec(db::Ledger::start_mark(true));
        exec_up(m);
        if (m.verify_sql) run_checks(m_db, *m.verify_sql, m.dir + "/verify.sql");
        m_db.exec(m_ctx.ledger.record_applied_sql(rec));
        m_staged.push_back(rec);
        if (m_each) commit();
      }
    } catch (const Error& e) {
      if (!m.no_transaction && lock_timed_out(e) && m_attempt <= m_spec.lock_retries) {
        m_db.rollback_if_open();  // the whole transaction: with `all`, the migrations staged before it too
        m_open = false;
        m_staged.clear();
        throw LockBusy{std::string(e.what())};
      }
      fail(m, e);
    }
  }

  StageContext& m_ctx;
  db::Connection& m_db;
  const config::StepSpec& m_spec;
  const bool m_each;
  const std::vector<migrate::Migration>& m_pending;
  const size_t m_base;  // committed before this step
  const std::string m_lt;
  const bool m_trace;                           // statement by statement, each traced (lock_trace)
  std::map<long long, db::TableState> m_start;  // tracing: the user tables before the first migration
  int m_attempt = 1;
  std::vector<db::AppliedMigration> m_staged;  // in the open transaction, not yet committed
  bool m_open = false;
  size_t m_done = 0;
};
}  // namespace

std::string apply_migrations(StageContext& ctx, const config::StepSpec& spec, const migrate::Plan& plan) {
  size_t base = ctx.applied_this_run.size();
  Applier(ctx, spec, plan.pending).run();
  // the accept-risk directives of what this call applied, recorded in ferry.accepted_risks
  migrate::lint::record_accepted(ctx.ledger, ctx.run_id, plan.pending, ctx.applied_this_run, base,
                                 spec.lock_timeout.count());
  if (ctx.applied_this_run.empty())
    return "nothing to apply, at " + (plan.current.empty() ? std::string("no version") : plan.current);
  return "applied " + std::to_string(ctx.applied_this_run.size()) + ": " + span(ctx.applied_this_run);
}

namespace {
// Down SQL waits for its locks no longer than the playbook's migrate step allows (10s when it has
// none, as for `ferry rollback --to`): queued behind a reader, an ALTER would block every other
// session on the table for as long as it waits.
Millis down_lock_timeout(const config::Playbook& pb) {
  for (const auto& s : pb.steps)
    if (s.kind == config::StepKind::Migrate) return s.lock_timeout;
  return Millis(10'000);
}

std::string still_applied(const std::vector<db::AppliedMigration>& ms) {
  std::string out;
  for (auto it = ms.rbegin(); it != ms.rend(); ++it) out += (out.empty() ? "" : ", ") + it->version + "_" + it->name;
  return out;
}
}  // namespace

std::string revert_migrations(StageContext& ctx) {
  auto& db = ctx.db;
  Millis lock_timeout = down_lock_timeout(ctx.playbook);
  size_t reverted = 0;
  while (!ctx.applied_this_run.empty()) {
    const auto& m = ctx.applied_this_run.back();
    std::string id = m.version + "_" + m.name;
    if (!m.down_sql) throw Error(ErrorKind::Command, id + " is irreversible (no down SQL)");
    std::string file = id + "/down.sql (stored)";
    try {
      migrate::check_statements(*m.down_sql, file, true);  // a stored COMMIT would split the revert in two
      db.exec("BEGIN; SET LOCAL lock_timeout = '" + std::to_string(lock_timeout.count()) + "ms'");
      exec_statements(db, *m.down_sql, file);
      ctx.ledger.record_reverted(m.version, ctx.run_id);
      db.exec("COMMIT");
    } catch (const Error& e) {
      db.rollback_if_open();
      auto* dbe = dynamic_cast<const db::DbError*>(&e);
      std::string why = dbe && dbe->sqlstate() == "55P03"
                            ? "could not take its lock within " + format_duration(lock_timeout) +
                                  " (lock_timeout; another session holds a conflicting lock): " + e.what()
                            : std::string("failed: ") + e.what();
      throw Error(e.kind(), "down SQL of " + id + " " + why +
                                "; nothing of it was applied, still applied: " + still_applied(ctx.applied_this_run) +
                                (reverted ? " (" + std::to_string(reverted) + " newer reverted)" : ""));
    }
    ctx.applied_this_run.pop_back();
    ++reverted;
  }
  return "reverted " + std::to_string(reverted) + " by down SQL";
}

}  // namespace ferry::steps
