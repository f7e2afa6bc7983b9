// The swap restore. The order of its phases is what makes it atomic:
//   1. CREATE DATABASE scratch (like the original: owner, encoding, locale; grants, comment,
//      connection limit), pg_restore -j N into it, the backup's database settings;
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
#include <thread>

#include "core/duration.hpp"
#include "core/text.hpp"
#include "db/introspect.hpp"
#include "db/ledger.hpp"
#include "core/interrupt.hpp"
#include "log/log.hpp"
#include "steps/backup.hpp"
#include "steps/backup_internal.hpp"
#include "steps/database_copy.hpp"
#include "steps/progress.hpp"
#include "steps/recovery.hpp"
#include "steps/restore_counts.hpp"

namespace ferry::steps {

namespace {

using namespace detail;
using db::quote_ident;

constexpr Millis k_leave_wait{5000};  // how long other sessions get to leave the original

// The time of each phase of a swap restore, in the diagnostics log (-vv, --log-file): where a
// restore's time goes (bench/README.md's breakdown).
class PhaseClock {
 public:
  void done(const std::string& phase) {
    log::debug("swap restore: " + phase + " " + std::to_string((m_sw.elapsed() - m_last).count()) + " ms");
    m_last = m_sw.elapsed();
  }

 private:
  Stopwatch m_sw;
  Millis m_last{0};
};

// ferry_KIND_H_XXXX_RRRR: H the first 8 hex of sha256(the database's name), so a leftover is
// known to be this database's; XXXX the backup ID's suffix; RRRR random.
std::string swap_database_name(const std::string& kind, const std::string& dbname, const BackupMeta& meta) {
  return "ferry_" + kind + "_" + swap_owner_tag(dbname) + "_" + meta.id.substr(meta.id.size() - 4) + "_" +
         stamp_id(4).substr(17);
}

// pg_restore -j needs a seekable file: a zstd backup is decompressed next to itself (removed at
// exit), hashed in the same read; its sha256 ($2) is checked before anything is restored. When
// the decompression fails, the whole file is hashed: a damaged file (exit 65) is told apart from
// a failure here (a full disk: exit 1, with zstd's words).
const char* k_unpack_zstd =
    R"SH([ -L "$f" ] && { echo "backup file $f is a symbolic link; ferry restores only what is in backup.dir" >&2; exit 65; }
[ -e "$f" ] || { echo "backup file $f is missing" >&2; exit 66; }
t=$(mktemp -p "$(dirname -- "$f")" .ferry-restore.XXXXXX) || exit 73
trap 'rm -f -- "$t" "$t.fifo" "$t.sum"' EXIT
mkfifo -- "$t.fifo" || exit 73
sha256sum < "$t.fifo" > "$t.sum" & h=$!
if ! err=$(tee -- "$t.fifo" < "$f" | zstd -q -dc 2>&1 > "$t"); then
  wait "$h"; rm -f -- "$t"
  sum=$(sha256sum < "$f" | cut -c1-64)
  [ "$sum" = "$2" ] || { echo "backup file $f is damaged: it does not match its sha256 (found $sum)" >&2; exit 65; }
  echo "cannot decompress $f next to it (is the disk full?): $(printf '%s' "$err" | tr '\n' ' ' | cut -c1-300)" >&2; exit 1
fi
wait "$h"
sum=$(cut -c1-64 "$t.sum"); [ "$sum" = "$2" ] || { echo "backup file $f does not match its sha256 (found $sum)" >&2; exit 65; }
echo FERRY_UNPACKED
src=$t
)SH";

// pg_restore -v's items counted (FERRY_ITEM N on stdout, for progress); its errors kept on
// stderr, its other chatter dropped.
const char* k_restore_filter = R"SH(eval "$FERRY_PG_RESTORE \"\$src\"" 2>&1 | { n=0; while IFS= read -r l; do
  case $l in
    *'finished item '*' TABLE DATA '*) n=$((n+1)); echo "FERRY_ITEM $n"; printf 'FERRY_DATA %s\n' "${l#* TABLE DATA }" ;;
    *'processing item'*|*'finished item'*) n=$((n+1)); echo "FERRY_ITEM $n" ;;
    'pg_restore: error'*|'pg_restore: warning'*|*TOC*) printf '%s\n' "$l" >&2 ;;
    'pg_restore: '*) ;;
    *) printf '%s\n' "$l" >&2 ;;
  esac
done; }
exit "${PIPESTATUS[0]}"
)SH";

// Why a swap cannot be used for this environment, or "".
std::string not_swappable(const config::Environment& env) {
  if (!env.database.tunnel.empty()) return "the database is reached through an SSH tunnel";
  const auto& tools = env.connections.at(env.database.tools);
  if (tools.type == config::ConnectionType::Docker) return "pg_restore runs in a container";
  if (!tools_on_backup_host(env)) return "pg_restore does not run where the backups are kept";
  return "";
}

// Why the connected role cannot create, own and rename the database, or "".
std::string missing_rights(db::Connection& m, const std::string& dbname) {
  auto r = m.exec_params(
      "SELECT r.rolsuper OR r.rolcreatedb, pg_catalog.pg_has_role(d.datdba, 'MEMBER') FROM pg_catalog.pg_roles r, "
      "pg_catalog.pg_database d WHERE r.rolname = current_user AND d.datname = $1",
      {dbname});
  if (r.rows() == 0) return "database '" + dbname + "' was not found";
  if (r.text(0, 0) != "t") return "the role has no CREATEDB right";
  if (r.text(0, 1) != "t") return "the role does not own the database";
  return "";
}

// Runs pg_restore -j into `scratch`, decompressing a zstd file next to it first (-j needs a
// seekable file). Progress: the scratch database's size and the items pg_restore reports.
void parallel_restore(StageContext& ctx, const BackupMeta& meta, const std::string& scratch, db::Connection& m,
                      PhaseClock& clock, RestoreCounts& counts) {
  const auto& env = ctx.env;
  std::vector<std::string> args = conn_args(env);
  args.insert(args.end(), {"-j", std::to_string(env.backup->restore_jobs), "--exit-on-error", "-v", "-d", scratch});
  transport::Command cmd;
  cmd.env = tool_env(env);
  cmd.env["PGOPTIONS"] = "-c maintenance_work_mem=256MB -c synchronous_commit=off";
  cmd.env["FERRY_PG_RESTORE"] = tool(env, "pg_restore", args, false);
  // A zstd file is hashed while it is decompressed (one read) and checked before pg_restore runs.
  std::string unpack = meta.compression == "zstd" ? k_unpack_zstd : sha256_check_script(meta.format) + "src=$f\n";
  // A ferry gone (its pipe closed) ends the script at its next line out, its EXIT trap run: the
  // decompressed file is removed, pg_restore ends at its next line (SIGPIPE).
  cmd.argv = {"bash",
              "-c",
              "set -u -o pipefail\numask 077\ntrap 'exit 141' PIPE\nf=$1\n" + unpack + k_restore_filter,
              "ferry-restore",
              meta.file,
              meta.sha256};
  Stopwatch sw;
  Millis last{0};
  std::string items = "0";
  // The estimate: the database it replaces is about as big as the restored one will be.
  long long expected =
      std::stoll(m.exec_params("SELECT pg_catalog.pg_database_size($1)", {env.database.name}).text(0, 0));
  cmd.on_tick = [&] {
    if (sw.elapsed() - last < Millis(500)) return;
    last = sw.elapsed();
    std::string size;
    try {
      size = m.exec_params("SELECT pg_catalog.pg_database_size($1)", {scratch}).text(0, 0);
    } catch (const Error&) {
    }
    ctx.reporter.step_progress(
        "restore", progress_text(sw.elapsed(), size.empty() ? -1 : std::stoll(size), expected, items + " item(s)"));
    counts.count_finished();  // the tables whose data pg_restore finished since the last tick
  };
  auto& t = ctx.transports.get(env.backup->on);
  std::string partial;  // the script's output, line by line
  auto res = t.run(cmd, [&](const char* d, size_t n) {
    partial.append(d, n);
    size_t start = 0;
    for (size_t nl; (nl = partial.find('\n', start)) != std::string::npos; start = nl + 1) {
      std::string line = partial.substr(start, nl - start);
      if (line == "FERRY_UNPACKED") clock.done("decompress and sha256 check");
      if (line.rfind("FERRY_ITEM ", 0) == 0) items = line.substr(11);
      if (line.rfind("FERRY_DATA ", 0) == 0) counts.data_finished(line.substr(11));
    }
    partial.erase(0, start);
  });
  if (res.ok()) return clock.done("pg_restore -j" + std::to_string(env.backup->restore_jobs));
  std::string hint;
  if (res.exit_code == 65)  // the file does not match its sha256 (the plan did not read it twice)
    if (auto good = newest_good_backup(env, ctx.transports, meta.id))
      hint = "a good backup of " + env.name + " (its sha256 matches): " + good->id + "; restore it with `ferry " +
             "rollback " + env.name + " --backup " + good->id + "`";
  throw RestoreNotApplied(ErrorKind::Command,
                          "restore of " + meta.id + " into a new database failed on " + t.describe() + ": " +
                              error_summary(res.err) + "; the database is as it was",
                          hint);
}

// The new database proven against the backup's sidecar, with the backup's settings.
void prove_scratch(StageContext& ctx, const BackupMeta& meta, db::Connection& scratch_db, const std::string& scratch,
                   db::Connection& original, PhaseClock& clock, RestoreCounts& counts) {
  auto settings = meta.database_settings ? *meta.database_settings : db::database_settings(original);
  scratch_db.exec(db::database_settings_sql(scratch, settings));
  std::string fp = db::schema_fingerprint(scratch_db);
  clock.done("settings and fingerprint");
  if (fp != meta.fingerprint)
    throw RestoreNotApplied(ErrorKind::Verify, "the restored copy of " + meta.id + " has schema fingerprint " +
                                                   fp.substr(0, 12) + ", not the backup's " +
                                                   meta.fingerprint.substr(0, 12) + "; nothing was swapped");
  if (counts.counts(scratch_db) != meta.row_counts)
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
    m.exec("DO $ferry$ DECLARE p int; BEGIN FOR p IN SELECT pid FROM pg_catalog.pg_stat_activity WHERE datname = " +
           db::quote_literal(dbname) + " AND pid <> " + std::to_string(own_pid) +
           " AND coalesce(backend_type, 'client backend' || left(usesysid::text, 0)) = 'client backend' LOOP BEGIN "
           "PERFORM pg_catalog.pg_terminate_backend(p); EXCEPTION WHEN "
           "OTHERS THEN NULL; END; END LOOP; END $ferry$");
    left = m.exec_params(
                "SELECT string_agg(format('pid %s (%s%s)', pid, usename, CASE WHEN application_name <> '' THEN ' ' "
                "|| application_name ELSE '' END), ', ' ORDER BY pid) FROM pg_catalog.pg_stat_activity WHERE datname "
                "= $1 AND pid <> $2::int AND coalesce(backend_type, 'client backend' || left(usesysid::text, 0)) = "
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
    for (int i = 0;
         i < 100 &&
         m.exec("SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE pid = " + std::to_string(own_pid)).text(0, 0) !=
             "0";
         ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
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
  try {
    m->exec(create_like_sql(*m, env.database.name, scratch));
  } catch (const Error& e) {
    throw RestoreNotApplied(e.kind(), "cannot create the database to restore into: " + std::string(e.what()) +
                                          "; the database is as it was");
  }
  set_cancel_target(nullptr);  // a signal must not cancel the swap half-way
  try {
    m->exec(properties_like_sql(*m, env.database.name, scratch));
    clock.done("maintenance session, CREATE DATABASE");
    RestoreCounts counts(env, scratch, meta.row_counts);
    parallel_restore(ctx, meta, scratch, *m, clock, counts);
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
        m->exec_params("SELECT count(*) FROM pg_catalog.pg_database WHERE datname = $1", {scratch}).text(0, 0) == "1";
    drop_scratch(*m, scratch);
    set_cancel_target(&ctx.db);
    if (before_swap) throw RestoreNotApplied(e.kind(), std::string(e.what()) + "; the database is as it was");
    throw;
  }
}

}  // namespace ferry::steps
