// The swap restore. The order of its phases is what makes it atomic:
//   1. CREATE DATABASE scratch (like the original: owner, encoding, locale; grants, comment,
//      connection limit) while the file is decompressed and checked, pg_restore -j N into it
//      (restore_parallel.cpp), the backup's database settings;
//   2. the proof: its fingerprint and row counts equal the sidecar's (else: drop it, no swap);
//   3. the window: the original's new connections blocked, its other client sessions ended
//      (bounded: sessions that will not leave mean no swap), ferry's schema copied over and
//      set back to the backup's ledger, ferry's own session ended, and in ONE transaction on
//      the maintenance database: original -> ferry_replaced_ID, scratch -> original, connections
//      allowed again;
//   4. ferry's session reconnects (to the restored database) and takes the lock again; the
//      replaced database is marked done and dropped by a detached psql (ferry does not wait).
// A SIGKILL at any point leaves a state the next command recognises (restore_window.cpp).
// Anything failing before the transaction of 3 commits leaves the original as it was (its
// connections allowed again) and drops the scratch database.
#include "steps/restore_swap.hpp"

#include <chrono>
#include <future>
#include <thread>

#include "core/duration.hpp"
#include "core/text.hpp"
#include "db/introspect.hpp"
#include "db/ledger.hpp"
#include "core/interrupt.hpp"
#include "log/log.hpp"
#include "steps/backup.hpp"
#include "steps/backup_internal.hpp"
#include "steps/progress.hpp"
#include "steps/recovery.hpp"
#include "steps/restore_counts.hpp"
#include "steps/restore_parallel.hpp"

namespace ferry::steps {

namespace {

using namespace detail;
using db::quote_ident;

constexpr Millis k_leave_wait{5000};  // how long other sessions get to leave the original

// ferry_KIND_H_XXXX_RRRR: H the first 8 hex of sha256(the database's name), so a leftover is
// known to be this database's; XXXX the backup ID's suffix; RRRR random.
std::string swap_database_name(const std::string& kind, const std::string& dbname, const BackupMeta& meta) {
  return "ferry_" + kind + "_" + swap_owner_tag(dbname) + "_" + meta.id.substr(meta.id.size() - 4) + "_" +
         stamp_id(4).substr(17);
}

// Why a swap cannot be used for this environment, or "".
std::string not_swappable(const config::Environment& env) {
  if (!env.database.tunnel.empty()) return "the database is reached through an SSH tunnel";
  const auto& tools = env.connections.at(env.database.tools);
  if (tools.type == config::ConnectionType::Docker || tools.type == config::ConnectionType::Kubectl)
    return "pg_restore runs in a container";
  if (!tools_on_backup_host(env)) return "pg_restore does not run where the backups are kept";
  return "";
}

// Why the connected role cannot create, own and rename the database, or "".
std::string missing_rights(db::Connection& m, const std::string& dbname) {
  auto r = m.exec_params(
      "SELECT r.rolsuper OR r.rolcreatedb, pg_catalog.pg_has_role(d.datdba, 'MEMBER') FROM pg_catalog.pg_roles r, "
      "pg_catalog.pg_database d WHERE r.rolname OPERATOR(pg_catalog.=) current_user AND d.datname "
      "OPERATOR(pg_catalog.=) $1",
      {dbname});
  if (r.rows() == 0) return "database '" + dbname + "' was not found";
  if (r.text(0, 0) != "t") return "the role has no CREATEDB right";
  if (r.text(0, 1) != "t") return "the role does not own the database";
  return "";
}

// The new database proven against the backup's sidecar, with the backup's settings.
// The row counts left after pg_restore are taken on a connection of their own while the
// settings and the fingerprint are (two catalog-wide or table-wide reads, at once).
void prove_scratch(StageContext& ctx, const BackupMeta& meta, db::Connection& scratch_db, const std::string& scratch,
                   db::Connection& original, PhaseClock& clock, RestoreCounts& counts) {
  auto counts_db = std::make_unique<db::Connection>(connect_params(ctx.env, scratch));
  auto counted = std::async(std::launch::async, [&] { return counts.counts(*counts_db); });
  auto settings = meta.database_settings ? *meta.database_settings : db::database_settings(original);
  scratch_db.exec(db::database_settings_sql(scratch, settings));
  std::string fp = db::schema_fingerprint(scratch_db);
  clock.done("settings and fingerprint (the counts beside them)");
  if (fp != meta.fingerprint)
    throw RestoreNotApplied(ErrorKind::Verify, "the restored copy of " + meta.id + " has schema fingerprint " +
                                                   fp.substr(0, 12) + ", not the backup's " +
                                                   meta.fingerprint.substr(0, 12) + "; nothing was swapped");
  if (counted.get() != meta.row_counts)
    throw RestoreNotApplied(ErrorKind::Verify, "the restored copy of " + meta.id +
                                                   " does not have the backup's row counts; nothing was swapped");
  clock.done("exact row counts (" + std::to_string(counts.counted_early()) + " of " +
             std::to_string(meta.row_counts.size()) + " tables counted while pg_restore ran)");
  ctx.reporter.step_progress("restore", "restored copy proven (fingerprint " + fp.substr(0, 12) + ", row counts)");
}

// backend_type is hidden (NULL) for other roles' sessions unless ferry may read all stats: a
// session with a user counts as a client; one without (autovacuum) does not (RENAME ends those).
// Ends every other client session of `dbname` (new ones are already blocked), waiting up to
// k_leave_wait. Returns the sessions still there ("" when none).
std::string end_other_sessions(db::Connection& m, const std::string& dbname, int own_pid) {
  Stopwatch sw;
  std::string left;
  do {
    // One at a time: a session this role may not end (a superuser's) must not stop the others.
    m.exec(
        "DO $ferry$ DECLARE p int; BEGIN FOR p IN SELECT pid FROM pg_catalog.pg_stat_activity WHERE datname "
        "OPERATOR(pg_catalog.=) " +
        db::quote_literal(dbname) + " AND pid OPERATOR(pg_catalog.<>) " + std::to_string(own_pid) +
        " AND coalesce(backend_type, 'client backend' OPERATOR(pg_catalog.||) "
        "pg_catalog.left(usesysid::pg_catalog.text, 0)) OPERATOR(pg_catalog.=) 'client backend' LOOP BEGIN "
        "PERFORM pg_catalog.pg_terminate_backend(p); EXCEPTION WHEN "
        "OTHERS THEN NULL; END; END LOOP; END $ferry$");
    left = m.exec_params(
                "SELECT pg_catalog.string_agg(pg_catalog.format('pid %s (%s%s)', pid, usename, CASE WHEN "
                "application_name OPERATOR(pg_catalog.<>) '' THEN ' ' OPERATOR(pg_catalog.||) application_name ELSE "
                "'' END), ', ' ORDER BY pid) FROM pg_catalog.pg_stat_activity WHERE datname OPERATOR(pg_catalog.=) $1 "
                "AND pid OPERATOR(pg_catalog.<>) $2::int AND coalesce(backend_type, 'client backend' "
                "OPERATOR(pg_catalog.||) pg_catalog.left(usesysid::pg_catalog.text, 0)) OPERATOR(pg_catalog.=) "
                "'client backend'",
                {dbname, std::to_string(own_pid)})
               .text(0, 0);
    if (left.empty()) return "";
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  } while (sw.elapsed() < k_leave_wait);
  return left;
}

// The replaced database dropped by a detached psql on backup.on (DROP DATABASE checkpoints: ~1 s
// on a big database), so that ferry reports without waiting for it. Marked done first, so the
// next backup/rollback drops it should this drop fail or be cut off.
void drop_in_background(StageContext& ctx, db::Connection& m, const std::string& replaced) {
  const auto& env = ctx.env;
  try {
    m.exec("COMMENT ON DATABASE " + quote_ident(replaced) + " IS " + db::quote_literal(k_replaced_comment));
  } catch (const Error& e) {
    ctx.reporter.message(
        report::Level::Warn,
        "the replaced database " + replaced + " was kept (drop it with DROP DATABASE once not needed): " + e.what());
    return;
  }
  std::vector<std::string> args = conn_args(env);
  args.insert(args.end(), {"-X", "-q", "-d", "postgres", "-c", "DROP DATABASE " + quote_ident(replaced)});
  transport::Command cmd;
  cmd.env = tool_env(env);
  cmd.env["PGAPPNAME"] = swap_drop_session_name(env.database.name);
  cmd.env["FERRY_PSQL"] = tool(env, "psql", args, false);
  cmd.argv = {"bash", "-c", "setsid nohup bash -c 'eval \"$FERRY_PSQL\"' </dev/null >/dev/null 2>&1 &"};
  auto& t = ctx.transports.get(env.backup->on);
  auto res = t.run(cmd);
  ctx.reporter.message(report::Level::Info,
                       "the replaced database " + replaced +
                           (res.ok() ? " is being dropped in the background on " + t.describe()
                                     : " could not be dropped in the background (" + error_summary(res.err) + ")") +
                           "; if it is still there, the next `ferry backup` or `ferry rollback` of " + env.name +
                           " drops it");
}

// Phase 4: ferry's session back on the restored database, its lock taken again, then the
// replaced database dropped in the background.
void finish_swap(StageContext& ctx, const BackupMeta& meta, db::Connection& m, const std::string& replaced) {
  ctx.reporter.step_progress("restore", "swapped in; reconnecting");
  ctx.db.reconnect();
  if (!ctx.ledger.try_lock())
    throw Error(ErrorKind::Command,
                "restored " + meta.id +
                    " by swap, but another session took the lock before "
                    "ferry reconnected",
                "check `ferry status " + ctx.env.name + "`; database " + replaced + " holds what was replaced");
  swap_test_pause("swap:relocked");
  drop_in_background(ctx, m, replaced);
}

// Phase 3 and 4 (see the top of this file). Returns false when other sessions would not leave.
bool swap_in(StageContext& ctx, const BackupMeta& meta, db::Connection& m, std::unique_ptr<db::Connection>& scratch_db,
             const std::string& scratch, PhaseClock& clock) {
  const std::string& name = ctx.env.database.name;
  std::string replaced = swap_database_name("replaced", name, meta);
  int own_pid = ctx.db.backend_pid();
  ctx.reporter.step_progress("restore", "swapping: new connections to " + name + " blocked, its sessions ended");
  m.exec("ALTER DATABASE " + quote_ident(name) + " ALLOW_CONNECTIONS false");
  swap_test_pause("swap:blocked");
  bool swapped = false;
  try {
    if (auto left = end_other_sessions(m, name, own_pid); !left.empty()) {
      m.exec("ALTER DATABASE " + quote_ident(name) + " ALLOW_CONNECTIONS true");
      ctx.reporter.message(report::Level::Warn, "session(s) of " + name + " did not leave within " +
                                                    format_duration(k_leave_wait) + ": " + left +
                                                    "; restoring in one transaction instead");
      return false;
    }
    db::Ledger(*scratch_db).ensure_schema();
    db::Ledger(ctx.db).copy_to(*scratch_db);
    scratch_db->exec(db::Ledger::restore_fixup_sql(ctx.run_id, meta.ledger));
    scratch_db.reset();
    m.exec("SELECT pg_catalog.pg_terminate_backend(" + std::to_string(own_pid) + ")");  // ferry's own session
    for (int i = 0;  // gone within 5 s, looked for every 5 ms (the swap window's length)
         i < 1000 &&
         m.exec("SELECT pg_catalog.count(*) FROM pg_catalog.pg_stat_activity WHERE pid OPERATOR(pg_catalog.=) " +
                std::to_string(own_pid))
                 .text(0, 0) != "0";
         ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    swap_test_pause("swap:renaming");
    m.exec("BEGIN; ALTER DATABASE " + quote_ident(name) + " RENAME TO " + quote_ident(replaced) + "; ALTER DATABASE " +
           quote_ident(scratch) + " RENAME TO " + quote_ident(name) + "; ALTER DATABASE " + quote_ident(name) +
           " ALLOW_CONNECTIONS true; COMMIT");
    swapped = true;
  } catch (const Error& e) {
    if (swapped) throw;
    m.rollback_if_open();
    try {
      m.exec("ALTER DATABASE " + quote_ident(name) + " ALLOW_CONNECTIONS true");
      if (!ctx.db.alive()) {
        ctx.db.reconnect();
        ctx.ledger.try_lock();
      }
    } catch (const Error&) {
    }
    throw RestoreNotApplied(ErrorKind::Command,
                            std::string("the swap did not happen: ") + e.what() + ": the database is as it was");
  }
  swap_test_pause("swap:renamed");
  clock.done("swap window (sessions ended, ledger copied, renamed)");
  finish_swap(ctx, meta, m, replaced);
  clock.done("reconnect, lock, background drop started");
  return true;
}

void drop_scratch(db::Connection& m, const std::string& scratch) {
  try {
    m.exec("DROP DATABASE IF EXISTS " + quote_ident(scratch) + " WITH (FORCE)");
  } catch (const Error&) {
  }
}

}  // namespace

bool restore_by_swap(StageContext& ctx, const BackupMeta& meta) {
  const auto& env = ctx.env;
  std::string why = not_swappable(env);
  std::unique_ptr<db::Connection> m;
  PhaseClock clock;
  if (why.empty()) {
    try {
      m = std::make_unique<db::Connection>(connect_params(env, "postgres"));
      why = missing_rights(*m, env.database.name);
      // While this session lives, its swap is under way: the next command leaves it alone.
      m->exec("SET application_name = " + db::quote_literal(swap_session_name(env.database.name)));
    } catch (const Error& e) {
      why = std::string("cannot connect to the maintenance database 'postgres': ") + e.what();
    }
  }
  if (!why.empty()) {
    ctx.reporter.message(report::Level::Info, "restoring in one transaction: " + why);
    return false;
  }
  std::string scratch = swap_database_name("restore", env.database.name, meta);
  set_cancel_target(nullptr);  // a signal must not cancel the swap half-way
  try {
    RestoreCounts counts(env, scratch, meta.row_counts);
    create_and_restore(ctx, meta, scratch, *m, clock, counts);
    auto scratch_db = std::make_unique<db::Connection>(connect_params(env, scratch));
    prove_scratch(ctx, meta, *scratch_db, scratch, ctx.db, clock, counts);
    bool done = swap_in(ctx, meta, *m, scratch_db, scratch, clock);
    if (!done) drop_scratch(*m, scratch);
    set_cancel_target(&ctx.db);
    return done;
  } catch (const RestoreNotApplied&) {
    drop_scratch(*m, scratch);
    set_cancel_target(&ctx.db);
    throw;
  } catch (const Error& e) {
    bool before_swap =
        m->exec_params("SELECT pg_catalog.count(*) FROM pg_catalog.pg_database WHERE datname OPERATOR(pg_catalog.=) $1",
                       {scratch})
            .text(0, 0) == "1";
    drop_scratch(*m, scratch);
    set_cancel_target(&ctx.db);
    if (before_swap) throw RestoreNotApplied(e.kind(), std::string(e.what()) + "; the database is as it was");
    throw;
  }
}

}  // namespace ferry::steps
