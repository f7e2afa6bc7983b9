// Restore: a backup replayed into the database in ONE transaction that can commit only after
// every producer (zstd, pg_restore, the filter) has exited 0.
//
// psql runs WITHOUT --single-transaction; ferry sends BEGIN itself, then a guard: a deferred
// constraint trigger that fails the COMMIT unless `ferry.restore_complete` is set in the
// transaction. The script sends that setting and the COMMIT only when all producers
// succeeded; otherwise psql reaches the end of its input with the transaction open and the
// server rolls it back (and a COMMIT psql might still send, e.g. a half-written last line,
// fails on the guard). pg_restore runs with --single-transaction so that it emits no COMMIT of
// its own in the middle (large objects); its leading BEGIN and trailing COMMIT are removed by
// a filter that never alters COPY data or function bodies.
#include <chrono>
#include <thread>

#include "core/text.hpp"
#include "db/introspect.hpp"
#include "db/ledger.hpp"
#include "core/interrupt.hpp"
#include "steps/backup.hpp"
#include "steps/backup_internal.hpp"
#include "steps/progress.hpp"
#include "steps/restore_swap.hpp"

namespace ferry::steps {

namespace {

using namespace detail;

// Drops pg_restore's first `BEGIN;` (before any statement) and its last `COMMIT;` (followed
// only by blank lines, comments and \unrestrict). A data line "COMMIT;" is followed by more
// data or by "\." and is kept; only lines before the first statement or after the last are
// touched.
const char* k_filter_awk = R"AWK({ o = !($0 == "" || $0 ~ /^--/ || $0 ~ /^\\(un)?restrict /) }
!s && $0 == "BEGIN;" { s = 1; next }
o { s = 1 }
h && o { printf "COMMIT;\n%s", b; h = 0; b = "" }
h { b = b $0 "\n"; next }
$0 == "COMMIT;" { h = 1; b = ""; next }
{ print }
END { if (h) printf "%s", b }
)AWK";

// The database's objects that live in no schema and that the dump creates again: event
// triggers (dropped first, so none fires on the restore's DDL) and publications.
std::string drop_schemaless(StageContext& ctx) {
  std::string out;
  auto rows = ctx.db.exec(
      "SELECT 'EVENT TRIGGER', evtname FROM pg_catalog.pg_event_trigger UNION ALL "
      "SELECT 'PUBLICATION', pubname FROM pg_catalog.pg_publication ORDER BY 1, 2");
  for (int i = 0; i < rows.rows(); ++i)
    out += "DROP " + rows.text(i, 0) + " " + db::quote_ident(rows.text(i, 1)) + ";\n";
  return out;
}

// Before the dump: the transaction, its id (to learn its fate should psql die), the guard,
// then every user schema, event trigger and publication dropped (public recreated empty) and
// every large object unlinked, so objects created after the backup are gone and the dump's
// own can be created.
std::string pre_sql(StageContext& ctx) {
  std::string pre =
      "BEGIN;\nSET client_min_messages = warning;\nSET lock_timeout = '" +
      std::to_string(ctx.env.backup->restore_lock_timeout.count()) +
      "ms';\nSET statement_timeout = 0;\n"
      "SET idle_in_transaction_session_timeout = 0;\nSELECT 'FERRY_TXID ' OPERATOR(pg_catalog.||) "
      "pg_catalog.txid_current();\n" +
      drop_schemaless(ctx) +
      "CREATE TEMP TABLE ferry_restore_guard (id int);\n"
      "CREATE FUNCTION pg_temp.ferry_restore_guard() RETURNS pg_catalog.trigger LANGUAGE plpgsql AS $ferry$BEGIN\n"
      "  IF coalesce(pg_catalog.current_setting('ferry.restore_complete', true), '') OPERATOR(pg_catalog.<>) 'yes' "
      "THEN\n"
      "    RAISE EXCEPTION 'ferry: the restore did not complete; nothing is committed';\n"
      "  END IF;\n  RETURN NULL;\nEND$ferry$;\n"
      "CREATE CONSTRAINT TRIGGER ferry_restore_guard AFTER INSERT ON pg_temp.ferry_restore_guard DEFERRABLE "
      "INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION pg_temp.ferry_restore_guard();\n"
      "INSERT INTO pg_temp.ferry_restore_guard VALUES (1);\n"
      "SET maintenance_work_mem = '512MB';\nSET max_parallel_maintenance_workers = 2;\n"
      "SELECT pg_catalog.count(pg_catalog.lo_unlink(oid)) FROM pg_catalog.pg_largeobject_metadata;\n";
  auto schemas = ctx.db.exec("SELECT nspname FROM pg_catalog.pg_namespace WHERE " + db::user_schema_test("nspname") +
                             " ORDER BY 1");
  for (int i = 0; i < schemas.rows(); ++i) pre += "DROP SCHEMA " + db::quote_ident(schemas.text(i, 0)) + " CASCADE;\n";
  pre += "CREATE SCHEMA public;\nGRANT USAGE ON SCHEMA public TO PUBLIC;\n";
  pre += "ALTER SCHEMA public OWNER TO pg_database_owner;\n";
  pre += "COMMENT ON SCHEMA public IS 'standard public schema';\n";  // the dump names it only when it differs
  return pre;
}

// After the dump: the database's settings set back (last: a restored setting such as
// search_path or statement_timeout must not affect the ledger's lines before it).
std::string post_sql(StageContext& ctx, const BackupMeta& meta) {
  std::string post = db::Ledger::restore_fixup_sql(ctx.run_id, meta.ledger);
  if (meta.database_settings) post += db::database_settings_sql(ctx.env.database.name, *meta.database_settings);
  return post;
}

// The restore script: check the file, then BEGIN + pre, the dump as SQL, and post + COMMIT
// only when every producer exited 0. A producer killed by SIGPIPE means psql stopped first
// (its own error says why).
std::string restore_script(const BackupMeta& meta) {
  std::string producers = meta.format == "directory"
                              ? "eval \"$FERRY_TO_SQL\" 2>>\"$e\""
                              : (meta.compression == "zstd" ? "zstd -dc -- \"$f\"" : "cat -- \"$f\"") +
                                    std::string(" 2>>\"$e\" | eval \"$FERRY_TO_SQL\" 2>>\"$e\"");
  return "set -u -o pipefail\nf=$1\n" + sha256_check_script(meta.format) +
         "e=$(mktemp) || exit 70\ntrap 'rm -f -- \"$e\"' EXIT\n"
         "{\n  printf '%s\\n' \"$FERRY_PRE_SQL\"\n  " +
         producers +
         " | awk \"$FERRY_FILTER\"\n"
         "  st=(\"${PIPESTATUS[@]}\")\n"
         "  for s in \"${st[@]}\"; do\n"
         "    [ \"$s\" = 0 ] && continue\n"
         "    case \" ${st[*]} \" in *\" 141 \"*) exit 1 ;; esac\n"
         "    echo \"reading the backup failed (exit statuses ${st[*]}): $(grep -v '^[[:space:]]*$' \"$e\" | head -n 3 "
         "| tr '\\n' ' ' | cut -c1-500)\" >&2\n"
         "    exit 1\n"
         "  done\n"
         "  printf '%s\\nSELECT pg_catalog.set_config(%s, %s, true);\\nCOMMIT;\\n' \"$FERRY_POST_SQL\" "
         "\"'ferry.restore_complete'\" \"'yes'\"\n"
         "} | eval \"$FERRY_PSQL\"\n";
}

// The restore transaction's id, as psql printed it.
std::optional<long long> printed_txid(const std::string& out) {
  auto p = out.find("FERRY_TXID ");
  if (p == std::string::npos) return std::nullopt;
  try {
    return std::stoll(out.substr(p + 11, 24));
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// True when the transaction committed (or its fate cannot be learnt): only then is the
// database possibly changed.
bool maybe_committed(db::Connection& db, std::optional<long long> txid) {
  if (!txid) return false;  // psql never began it
  try {
    for (int i = 0; i < 100; ++i) {
      std::string s = db.exec("SELECT pg_catalog.txid_status(" + std::to_string(*txid) + ")").text(0, 0);
      if (s == "aborted") return false;
      if (s == "committed") return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the server has not seen psql go yet
    }
  } catch (const Error&) {
  }
  return true;
}

// The sessions holding locks on this database's tables, when a restore gave up waiting: who
// a human must ask (or end) before trying again.
std::string lock_holders(db::Connection& db) {
  try {
    auto r = db.exec(
        "SELECT pg_catalog.string_agg(pg_catalog.format('pid %s (%s%s, %s for %s)', a.pid, a.usename, CASE WHEN "
        "a.application_name OPERATOR(pg_catalog.<>) '' THEN ' ' OPERATOR(pg_catalog.||) a.application_name ELSE '' "
        "END, a.state, pg_catalog.date_trunc('second', pg_catalog.now() OPERATOR(pg_catalog.-) a.xact_start)), '; ' "
        "ORDER BY a.xact_start) FROM pg_catalog.pg_stat_activity a WHERE a.pid OPERATOR(pg_catalog.<>) "
        "pg_catalog.pg_backend_pid() AND a.datname OPERATOR(pg_catalog.=) pg_catalog.current_database() AND EXISTS "
        "(SELECT 1 FROM pg_catalog.pg_locks l WHERE l.pid OPERATOR(pg_catalog.=) a.pid AND l.granted AND l.relation "
        "IS NOT NULL)");
    return r.text(0, 0).empty() ? "" : "; sessions holding locks: " + r.text(0, 0);
  } catch (const Error&) {
    return "";
  }
}

// Progress every half second: how much the database grew (the restored copy is written beside
// the old objects until the COMMIT), against its size before.
void add_progress(StageContext& ctx, transport::Command& cmd) {
  auto size = [&ctx]() -> long long {
    try {
      return std::stoll(ctx.db.exec("SELECT pg_catalog.pg_database_size(pg_catalog.current_database())").text(0, 0));
    } catch (const std::exception&) {
      return -1;
    }
  };
  long long start = size();
  auto sw = std::make_shared<Stopwatch>();
  auto last = std::make_shared<Millis>(0);
  cmd.on_tick = [&ctx, size, start, sw, last] {
    if (sw->elapsed() - *last < Millis(500)) return;
    *last = sw->elapsed();
    long long now = size();
    ctx.reporter.step_progress(
        "restore",
        "one transaction, " + progress_text(sw->elapsed(), now < 0 || start < 0 ? -1 : now - start, start, ""));
  };
}

}  // namespace

namespace detail {

std::string restore_blockers(db::Connection& db) {
  auto r = db.exec(
      "SELECT (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(nspname) OPERATOR(pg_catalog.||) ' (' "
      "OPERATOR(pg_catalog.||) nspowner::pg_catalog.regrole OPERATOR(pg_catalog.||) ')', ', ' ORDER BY nspname) FROM "
      "pg_catalog.pg_namespace WHERE " +
      db::user_schema_test("nspname") +
      " AND NOT pg_catalog.pg_has_role(nspowner, 'USAGE')), (SELECT "
      "pg_catalog.string_agg(pg_catalog.quote_ident(pubname), ', ') FROM pg_catalog.pg_publication WHERE NOT "
      "pg_catalog.pg_has_role(pubowner, 'USAGE')), (SELECT pg_catalog.count(*) FROM pg_catalog.pg_largeobject_metadata "
      "WHERE NOT pg_catalog.pg_has_role(lomowner, 'USAGE')), (SELECT pg_catalog.count(*) FROM "
      "pg_catalog.pg_event_trigger WHERE NOT (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname "
      "OPERATOR(pg_catalog.=) current_user)), (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(subname), ', ' "
      "ORDER BY subname) FROM pg_catalog.pg_subscription WHERE subdbid OPERATOR(pg_catalog.=) (SELECT oid FROM "
      "pg_catalog.pg_database WHERE datname OPERATOR(pg_catalog.=) pg_catalog.current_database()))");
  std::string out;
  auto add = [&](const std::string& what) { out += (out.empty() ? "" : "; ") + what; };
  if (!r.text(0, 0).empty()) add("it does not own schema(s) " + r.text(0, 0));
  if (!r.text(0, 1).empty()) add("it does not own publication(s) " + r.text(0, 1));
  if (r.text(0, 2) != "0") add("it does not own " + r.text(0, 2) + " large object(s)");
  if (r.text(0, 3) != "0") add(r.text(0, 3) + " event trigger(s) need a superuser to drop");
  // DROP SUBSCRIPTION cannot run in a transaction block (its replication slot): the dump's
  // CREATE SUBSCRIPTION would find it there.
  if (!r.text(0, 4).empty()) add("subscription(s) " + r.text(0, 4) + " cannot be dropped inside its transaction");
  return out;
}

}  // namespace detail

std::string manual_restore_command(const config::Environment& env, const BackupMeta& meta) {
  std::vector<std::string> args = conn_args(env);
  args.pop_back();  // a human may be prompted for the password
  args.insert(args.end(), {"--clean", "--if-exists", "--single-transaction", "-d", env.database.name});
  std::string restore = shell_join(args);
  if (meta.compression == "zstd") return "zstd -dc " + shell_quote(meta.file) + " | pg_restore " + restore;
  return "pg_restore " + restore + " " + shell_quote(meta.file);
}

bool restore_backup(StageContext& ctx, const BackupMeta& meta) {
  const auto& env = ctx.env;
  if (!env.backup) throw Error(ErrorKind::Config, env.file + ": no 'backup:' section");
  if (env.backup->restore == "swap" && restore_by_swap(ctx, meta)) return true;
  std::vector<std::string> psql_args = conn_args(env);
  psql_args.insert(psql_args.end(),
                   {"-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", env.database.name, "-f", "-"});
  bool streamed = !tools_on_backup_host(env);
  if (streamed) check_streamable(env);
  transport::Command cmd;
  cmd.env = streamed ? std::map<std::string, std::string>{} : tool_env(env);
  cmd.env["FERRY_PRE_SQL"] = pre_sql(ctx);
  cmd.env["FERRY_POST_SQL"] = post_sql(ctx, meta);
  cmd.env["FERRY_FILTER"] = k_filter_awk;
  // Streamed: this machine turns the dump into SQL and psql runs where the tools are.
  cmd.env["FERRY_PSQL"] = streamed ? "cat" : tool(env, "psql", psql_args, true);
  // One transaction: pg_restore -1 emits no COMMIT between large objects (the filter drops its
  // outer BEGIN/COMMIT; ferry's own frame the restore).
  if (meta.format == "directory")
    cmd.env["FERRY_TO_SQL"] = tool(env, "pg_restore", {"--single-transaction", "-f", "-"}, false) + " \"$f\"";
  else
    cmd.env["FERRY_TO_SQL"] = tool(env, "pg_restore", {"--single-transaction", "-f", "-"}, true, streamed);
  cmd.argv = {"bash", "-c", restore_script(meta), "ferry-restore", meta.file, meta.sha256};
  auto& t = ctx.transports.get(env.backup->on);
  add_progress(ctx, cmd);
  set_cancel_target(nullptr);  // a signal must not cancel the restore half-way
  transport::CommandResult res;
  std::string psql_out;
  if (streamed) {
    transport::Command psql;
    psql.argv = {"psql"};
    psql.argv.insert(psql.argv.end(), psql_args.begin(), psql_args.end());
    psql.env = tool_env(env);
    auto& at = ctx.transports.get(env.database.tools);
    auto [produced, consumed] = pipe_through(t, cmd, at, psql);
    res = !produced.ok() ? produced : consumed;
    psql_out = consumed.out;
  } else {
    res = t.run(cmd);
    psql_out = res.out;
  }
  set_cancel_target(&ctx.db);
  if (res.ok()) return false;
  std::string why = "restore of " + meta.id + " failed on " + t.describe() + ": " + res.last_line();
  if (why.find("lock timeout") != std::string::npos) why += lock_holders(ctx.db);
  auto txid = printed_txid(psql_out);
  if (maybe_committed(ctx.db, txid)) throw Error(ErrorKind::Command, why);
  throw RestoreNotApplied(ErrorKind::Command, why + (txid ? "; its transaction rolled back" : "") +
                                                  ": the database is as it was before the restore");
}

}  // namespace ferry::steps
