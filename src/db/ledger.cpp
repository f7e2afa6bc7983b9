#include "db/ledger.hpp"

#include <functional>

namespace ferry::db {

namespace {
// pg_try_advisory_lock(int4, int4): 'ferr' and 1. Appears in pg_locks as classid/objid.
constexpr const char* k_lock_args = "1717924466, 1";

RunRecord run_from(const Result& r, int i) {
  RunRecord rec;
  rec.id = r.text(i, 0);
  rec.playbook = r.text(i, 1);
  rec.environment = r.text(i, 2);
  rec.operator_name = r.text(i, 3);
  rec.host = r.text(i, 4);
  rec.started = r.text(i, 5);
  rec.finished = r.text(i, 6);
  rec.outcome = r.text(i, 7);
  rec.version_before = r.text(i, 8);
  rec.version_after = r.text(i, 9);
  rec.backup_id = r.text(i, 10);
  rec.error = r.text(i, 11);
  rec.command = r.text(i, 12);
  return rec;
}
constexpr const char* k_run_cols =
    "id, playbook, environment, operator, host, "
    "pg_catalog.to_char(started AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
    "coalesce(pg_catalog.to_char(finished AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), ''), "
    "outcome, coalesce(version_before, ''), coalesce(version_after, ''), "
    "coalesce(backup_id, ''), coalesce(error, ''), coalesce(command, '')";
}  // namespace

std::string LockHolder::describe() const {
  if (run)
    return "run " + run->id + " by " + run->operator_name + " on " + run->host + ", started " + run->started + " (" +
           run->command + ")";
  return "another session (backend pid " + std::to_string(pid) + ")";
}

bool Ledger::schema_exists() {
  if (!m_schema_seen) {
    auto r = m_conn.exec("SELECT pg_catalog.to_regclass('ferry.runs') IS NOT NULL, "
                         "pg_catalog.to_regclass('ferry.fingerprints') IS NOT NULL");
    m_schema_seen = r.boolean(0, 0);
    m_fingerprints_seen = r.boolean(0, 1);
  }
  return m_schema_seen;
}

namespace {
// (catalog stamp, schema fingerprint) pairs that `ferry status` remembers (db/catalog_stamp.*).
constexpr const char* k_fingerprints_table = R"SQL(
CREATE TABLE IF NOT EXISTS ferry.fingerprints (
  stamp       pg_catalog.text PRIMARY KEY,
  fingerprint pg_catalog.text NOT NULL,
  at          pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now()
);
)SQL";
}  // namespace

void Ledger::ensure_schema() {
  if (schema_exists()) {
    if (!m_fingerprints_seen) {  // a ledger made before it existed
      try {
        m_conn.exec(k_fingerprints_table);
        m_fingerprints_seen = true;
      } catch (const DbError&) {  // no CREATE on schema ferry: only status's shortcut is lost
        m_conn.rollback_if_open();
      }
    }
    return;
  }
  m_schema_created = true;
  m_conn.exec(std::string(R"SQL(
CREATE SCHEMA IF NOT EXISTS ferry;
CREATE TABLE IF NOT EXISTS ferry.migrations (
  version            pg_catalog.text PRIMARY KEY,
  name               pg_catalog.text NOT NULL,
  checksum           pg_catalog.text NOT NULL,
  down_sql           pg_catalog.text,
  applied_at         pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
  duration_ms        bigint NOT NULL DEFAULT 0,
  run_id             pg_catalog.text NOT NULL,
  destroys_data      boolean NOT NULL DEFAULT false,
  down_restores_data boolean NOT NULL DEFAULT false
);
CREATE TABLE IF NOT EXISTS ferry.runs (
  id             pg_catalog.text PRIMARY KEY,
  playbook       pg_catalog.text NOT NULL,
  environment    pg_catalog.text NOT NULL,
  operator       pg_catalog.text NOT NULL,
  host           pg_catalog.text NOT NULL,
  started        pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
  finished       pg_catalog.timestamptz,
  outcome        pg_catalog.text NOT NULL,
  version_before pg_catalog.text,
  version_after  pg_catalog.text,
  backup_id      pg_catalog.text,
  error          pg_catalog.text,
  backend_pid    integer,
  command        pg_catalog.text
);
CREATE TABLE IF NOT EXISTS ferry.history (
  id      bigserial PRIMARY KEY,
  at      pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
  version pg_catalog.text NOT NULL,
  name    pg_catalog.text NOT NULL,
  action  pg_catalog.text NOT NULL,
  run_id  pg_catalog.text NOT NULL
);
)SQL") + k_fingerprints_table);
  m_schema_seen = true;
  m_fingerprints_seen = true;
}

std::optional<std::string> Ledger::fingerprint_for_stamp(const std::string& stamp) {
  auto r = m_conn.exec_params("SELECT fingerprint FROM ferry.fingerprints WHERE stamp OPERATOR(pg_catalog.=) $1",
                              {stamp});
  if (r.rows() == 0) return std::nullopt;
  return r.text(0, 0);
}

bool Ledger::remember_fingerprint(const std::string& stamp, const std::string& fingerprint,
                                  const std::string& stamp_query) {
  // Written only when the catalogs still have `stamp`, and flushed to this server's WAL before
  // COMMIT returns even under synchronous_commit = off: a pair that survives a crash proves
  // that every catalog change it saw survived too (the WAL is written in order), so no
  // transaction id of a lost change is reused under a stamp ferry keeps.
  const std::string s = m_conn.literal(stamp);
  try {
    m_conn.exec("BEGIN; SET LOCAL synchronous_commit = local; "
                "WITH kept AS (INSERT INTO ferry.fingerprints (stamp, fingerprint) SELECT " + s + ", " +
                m_conn.literal(fingerprint) + " WHERE (" + stamp_query + ") OPERATOR(pg_catalog.=) " + s +
                " ON CONFLICT (stamp) DO NOTHING) "
                "DELETE FROM ferry.fingerprints WHERE stamp OPERATOR(pg_catalog.<>) ALL "
                "(SELECT stamp FROM ferry.fingerprints ORDER BY at DESC, stamp LIMIT 19); COMMIT");
    return true;
  } catch (const DbError&) {
    m_conn.rollback_if_open();
    return false;
  }
}

bool Ledger::try_lock() {
  // One round trip: the settings (idle_session_timeout exists from PostgreSQL 14 on), then the
  // lock. Keepalive settings are accepted and ignored on a Unix socket.
  std::string sql = m_conn.server_version() >= 140000 ? "SET idle_session_timeout = 0; " : "";
  sql +=
      "SET idle_in_transaction_session_timeout = 0; SET statement_timeout = 0; SET tcp_keepalives_idle = 30; "
      "SET tcp_keepalives_interval = 10; SET tcp_keepalives_count = 3; ";
  return m_conn.exec(sql + "SELECT pg_catalog.pg_try_advisory_lock(" + k_lock_args + ")").boolean(0, 0);
}

bool Ledger::lock_held() {
  try {
    return m_conn
        .exec(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_locks WHERE locktype OPERATOR(pg_catalog.=) 'advisory' "
            "AND granted AND pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid() AND classid "
            "OPERATOR(pg_catalog.=) 1717924466 AND objid OPERATOR(pg_catalog.=) 1 AND objsubid "
            "OPERATOR(pg_catalog.=) 2)")
        .boolean(0, 0);
  } catch (const Error&) {
    return false;  // the session is gone, and the lock with it
  }
}

long long Ledger::runs_started_after(const std::string& run_id) {
  auto r = m_conn.exec_params(
      "SELECT pg_catalog.count(*) FROM ferry.runs WHERE id OPERATOR(pg_catalog.<>) $1 AND started "
      "OPERATOR(pg_catalog.>=) (SELECT started FROM ferry.runs WHERE id OPERATOR(pg_catalog.=) $1)",
      {run_id});
  return std::stoll(r.text(0, 0));
}

void Ledger::unlock() {
  try {
    m_conn.exec(std::string("SELECT pg_catalog.pg_advisory_unlock(") + k_lock_args + ")");
  } catch (const Error&) {
    // The lock dies with the session anyway.
  }
}

std::optional<LockHolder> Ledger::lock_holder() {
  auto r = m_conn.exec(
      "SELECT pid FROM pg_catalog.pg_locks WHERE locktype OPERATOR(pg_catalog.=) 'advisory' AND granted "
      "AND database OPERATOR(pg_catalog.=) (SELECT oid FROM pg_catalog.pg_database WHERE datname "
      "OPERATOR(pg_catalog.=) pg_catalog.current_database()) AND classid OPERATOR(pg_catalog.=) 1717924466 "
      "AND objid OPERATOR(pg_catalog.=) 1 AND objsubid OPERATOR(pg_catalog.=) 2 "
      "AND pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid()");
  if (r.rows() == 0) return std::nullopt;
  LockHolder h;
  h.pid = static_cast<int>(r.integer(0, 0));
  if (schema_exists()) {
    auto rr = m_conn.exec_params(std::string("SELECT ") + k_run_cols +
                                     " FROM ferry.runs WHERE backend_pid OPERATOR(pg_catalog.=) $1 AND outcome "
                                     "OPERATOR(pg_catalog.=) 'running' ORDER BY started DESC LIMIT 1",
                                 {std::to_string(h.pid)});
    if (rr.rows() == 1) h.run = run_from(rr, 0);
  }
  return h;
}

std::vector<AppliedMigration> Ledger::applied() {
  std::vector<AppliedMigration> out;
  if (!schema_exists()) return out;
  auto r = m_conn.exec(
      "SELECT version, name, checksum, down_sql, "
      "pg_catalog.to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), duration_ms, "
      "run_id, destroys_data, down_restores_data FROM ferry.migrations "
      "ORDER BY version::numeric");
  for (int i = 0; i < r.rows(); ++i) {
    AppliedMigration m;
    m.version = r.text(i, 0);
    m.name = r.text(i, 1);
    m.checksum = r.text(i, 2);
    m.down_sql = r.opt(i, 3);
    m.applied_at = r.text(i, 4);
    m.duration_ms = r.integer(i, 5);
    m.run_id = r.text(i, 6);
    m.destroys_data = r.boolean(i, 7);
    m.down_restores_data = r.boolean(i, 8);
    out.push_back(std::move(m));
  }
  return out;
}

std::string Ledger::current_version() {
  if (!schema_exists()) return "";
  auto r = m_conn.exec("SELECT version FROM ferry.migrations ORDER BY version::numeric DESC LIMIT 1");
  return r.rows() ? r.text(0, 0) : "";
}

namespace {

// A literal that reads the same whether standard_conforming_strings is on or off when it is
// parsed: E'' with backslashes and quotes doubled. (The batch is built before a migration in it
// may turn the setting off; today the server parses the whole batch, sent as one message, first.)
std::string e_literal(const std::string& text) {
  std::string out = "E'";
  for (char c : text) {
    if (c == '\\' || c == '\'') out += c;
    out += c;
  }
  return out + "'";
}

// Time marks are seconds since the epoch (numeric text) in a setting `ferry.NAME`: a migration
// that changes DateStyle cannot change how they read back.
const char* const k_epoch_now = "extract(epoch FROM pg_catalog.clock_timestamp())::pg_catalog.numeric";
std::string mark_sql(const std::string& name, bool local) {
  return "SELECT pg_catalog.set_config('ferry." + name + "', " + k_epoch_now + "::pg_catalog.text, " +
         (local ? "true)" : "false)");
}
std::string mark_value(const std::string& name) {
  return "pg_catalog.current_setting('ferry." + name + "')::pg_catalog.numeric";
}

// The ledger rows of `ms` and their history rows, in that order, as one statement; migration k's
// duration in seconds is the SQL `seconds(k)`.
std::string applied_rows_sql(const std::vector<AppliedMigration>& ms,
                             const std::function<std::string(size_t)>& seconds) {
  auto l = e_literal;
  std::string values;
  for (size_t k = 0; k < ms.size(); ++k) {
    const auto& m = ms[k];
    values += (k ? ", (" : "(") + std::to_string(k) + ", " + l(m.version) + ", " + l(m.name) + ", " + l(m.checksum) +
              ", " + (m.down_sql ? l(*m.down_sql) : "NULL::pg_catalog.text") + ", (" + seconds(k) +
              " OPERATOR(pg_catalog.*) 1000)::bigint, " + l(m.run_id) + ", " + (m.destroys_data ? "true" : "false") +
              ", " + (m.down_restores_data ? "true" : "false") + ")";
  }
  return "WITH v (ord, version, name, checksum, down_sql, duration_ms, run_id, destroys_data, down_restores_data) AS "
         "(VALUES " +
         values +
         "), m AS (INSERT INTO ferry.migrations (version, name, checksum, down_sql, duration_ms, run_id, "
         "destroys_data, down_restores_data) SELECT version, name, checksum, down_sql, duration_ms, run_id, "
         "destroys_data, down_restores_data FROM v ORDER BY ord) "
         "INSERT INTO ferry.history (version, name, action, run_id) SELECT version, name, 'applied', run_id FROM v "
         "ORDER BY ord";
}

std::string batch_name(size_t k) { return "b" + std::to_string(k); }

}  // namespace

std::string Ledger::start_mark(bool local) { return mark_sql("t0", local); }

std::string Ledger::record_applied_sql(const AppliedMigration& m) {
  return applied_rows_sql(
      {m}, [](size_t) { return std::string("(") + k_epoch_now + " OPERATOR(pg_catalog.-) " + mark_value("t0") + ")"; });
}

std::string Ledger::batch_mark(size_t k) { return mark_sql(batch_name(k), true); }

std::string Ledger::record_applied_batch_sql(const std::vector<AppliedMigration>& ms) {
  return applied_rows_sql(ms, [](size_t k) {
    return "(" + mark_value(batch_name(k + 1)) + " OPERATOR(pg_catalog.-) " + mark_value(batch_name(k)) + ")";
  });
}

void Ledger::record_reverted(const std::string& version, const std::string& run_id) {
  m_conn.exec_params(
      "WITH m AS (DELETE FROM ferry.migrations WHERE version OPERATOR(pg_catalog.=) $1 RETURNING version, name) "
      "INSERT INTO ferry.history (version, name, action, run_id) "
      "SELECT version, name, 'reverted', $2 FROM m",
      {version, run_id});
}

void Ledger::record_event(const std::string& version, const std::string& name, const std::string& action,
                          const std::string& run_id) {
  m_conn.exec_params("INSERT INTO ferry.history (version, name, action, run_id) VALUES ($1, $2, $3, $4)",
                     {version, name, action, run_id});
}

std::vector<Ledger::AppliedWithOutcome> Ledger::applied_with_outcome() {
  std::vector<AppliedWithOutcome> out;
  if (!schema_exists()) return out;
  auto r = m_conn.exec(
      "SELECT m.version, m.checksum, coalesce(r.outcome, 'unknown') FROM ferry.migrations m "
      "LEFT JOIN ferry.runs r ON r.id OPERATOR(pg_catalog.=) m.run_id");
  for (int i = 0; i < r.rows(); ++i) out.push_back({r.text(i, 0), r.text(i, 1), r.text(i, 2)});
  return out;
}

void Ledger::mark_applying(const AppliedMigration& m) {
  m_conn.exec_params("INSERT INTO ferry.history (version, name, action, run_id) VALUES ($1, $2, 'applying', $3)",
                     {m.version, m.name, m.run_id});
}

std::vector<HistoryEvent> Ledger::interrupted_applies() {
  std::vector<HistoryEvent> out;
  if (!schema_exists()) return out;
  auto r = m_conn.exec(
      "SELECT pg_catalog.to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), version, name, action, "
      "run_id FROM (SELECT DISTINCT ON (version) * FROM ferry.history ORDER BY version, id DESC) newest "
      "WHERE action OPERATOR(pg_catalog.=) 'applying' ORDER BY version::numeric");
  for (int i = 0; i < r.rows(); ++i)
    out.push_back({r.text(i, 0), r.text(i, 1), r.text(i, 2), r.text(i, 3), r.text(i, 4)});
  return out;
}

void Ledger::settle_applying(const std::string& run_id, bool every_run) {
  for (const auto& e : interrupted_applies())
    if (every_run || e.run_id == run_id)
      m_conn.exec_params("INSERT INTO ferry.history (version, name, action, run_id) VALUES ($1, $2, 'failed', $3)",
                         {e.version, e.name, run_id});
}

std::vector<RunRecord> Ledger::abandon_stale_runs() {
  std::vector<RunRecord> out;
  if (m_schema_created) return out;  // ferry.runs made by this session has no row yet
  auto r = m_conn.exec(std::string("UPDATE ferry.runs SET outcome = 'abandoned', finished = pg_catalog.now(), "
                                   "error = 'ferry stopped without finishing this run (killed, or its machine died)' "
                                   "WHERE outcome OPERATOR(pg_catalog.=) 'running' AND NOT EXISTS (SELECT 1 FROM "
                                   "pg_catalog.pg_stat_activity a WHERE a.pid OPERATOR(pg_catalog.=) "
                                   "ferry.runs.backend_pid AND coalesce(a.backend_start OPERATOR(pg_catalog.<=) "
                                   "ferry.runs.started, true)) RETURNING ") +
                       k_run_cols);
  for (int i = 0; i < r.rows(); ++i) out.push_back(run_from(r, i));
  return out;
}

void Ledger::insert_run(const RunRecord& r) {
  m_conn.exec_params(
      "INSERT INTO ferry.runs (id, playbook, environment, operator, host, outcome, "
      "version_before, backend_pid, command) VALUES ($1, $2, $3, $4, $5, 'running', $6, "
      "pg_catalog.pg_backend_pid(), $7)",
      {r.id, r.playbook, r.environment, r.operator_name, r.host, r.version_before, r.command});
}

void Ledger::finish_run(const std::string& id, const std::string& outcome, const std::string& version_after,
                        const std::string& error, const std::string& backup_id) {
  m_conn.exec_params(
      "UPDATE ferry.runs SET finished = pg_catalog.now(), outcome = $2, version_after = $3, "
      "error = CASE WHEN $4::pg_catalog.text OPERATOR(pg_catalog.=) '' THEN NULL ELSE $4::pg_catalog.text END, "
      "backup_id = coalesce(CASE WHEN $5::pg_catalog.text OPERATOR(pg_catalog.=) '' THEN NULL ELSE $5::pg_catalog.text "
      "END, backup_id) "
      "WHERE id OPERATOR(pg_catalog.=) $1",
      {id, outcome, version_after, error, backup_id});
}

std::vector<RunRecord> Ledger::runs_since(const std::string& since) {
  std::vector<RunRecord> out;
  if (!schema_exists()) return out;
  auto r = m_conn.exec_params(
      "SELECT id, playbook, environment, operator, host, pg_catalog.to_char(started AT TIME ZONE 'UTC', "
      "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), '', outcome, coalesce(version_before, ''), coalesce(version_after, ''), "
      "'', '', '' FROM ferry.runs WHERE coalesce(finished, pg_catalog.now()) OPERATOR(pg_catalog.>) "
      "$1::pg_catalog.timestamptz ORDER BY started, id",
      {since});
  for (int i = 0; i < r.rows(); ++i) out.push_back(run_from(r, i));
  return out;
}

std::vector<RunRecord> Ledger::runs(int limit) {
  std::vector<RunRecord> out;
  if (!schema_exists()) return out;
  auto r = m_conn.exec_params(
      std::string("SELECT ") + k_run_cols + " FROM ferry.runs ORDER BY started DESC, id DESC LIMIT $1",
      {std::to_string(limit)});
  for (int i = 0; i < r.rows(); ++i) out.push_back(run_from(r, i));
  return out;
}

std::vector<HistoryEvent> Ledger::history(int limit) {
  std::vector<HistoryEvent> out;
  if (!schema_exists()) return out;
  auto r = m_conn.exec_params(
      "SELECT pg_catalog.to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), version, name, "
      "action, run_id FROM ferry.history ORDER BY id DESC LIMIT $1",
      {std::to_string(limit)});
  for (int i = 0; i < r.rows(); ++i)
    out.push_back({r.text(i, 0), r.text(i, 1), r.text(i, 2), r.text(i, 3), r.text(i, 4)});
  return out;
}

void Ledger::ensure_notes() {
  m_conn.exec(
      "ALTER TABLE ferry.history ADD COLUMN IF NOT EXISTS note pg_catalog.text; "
      "ALTER TABLE ferry.runs ADD COLUMN IF NOT EXISTS note pg_catalog.text");
}

void Ledger::set_run_note(const std::string& run_id, const std::string& note) {
  m_conn.exec_params("UPDATE ferry.runs SET note = $2 WHERE id OPERATOR(pg_catalog.=) $1", {run_id, note});
}

void Ledger::record_baselined(const AppliedMigration& m, const std::string& note) {
  m_conn.exec_params(
      "WITH m AS (INSERT INTO ferry.migrations (version, name, checksum, down_sql, run_id, destroys_data, "
      "down_restores_data) VALUES ($1, $2, $3, $4, $5, $6::boolean, $7::boolean) RETURNING version, name, run_id) "
      "INSERT INTO ferry.history (version, name, action, run_id, note) SELECT version, name, 'baselined', run_id, $8 "
      "FROM m",
      {m.version, m.name, m.checksum, m.down_sql, m.run_id, std::string(m.destroys_data ? "true" : "false"),
       std::string(m.down_restores_data ? "true" : "false"), note});
}

void Ledger::record_baselined_revision(const std::string& rev, const std::string& message, const std::string& run_id,
                                       const std::string& note) {
  m_conn.exec_params(
      "INSERT INTO ferry.history (version, name, action, run_id, note) VALUES ($1, $2, 'baselined', $3, $4)",
      {rev, message, run_id, note});
}

void Ledger::accept_checksum(const std::string& version, const std::string& checksum, const std::string& run_id,
                             const std::string& note) {
  m_conn.exec_params(
      "WITH m AS (UPDATE ferry.migrations SET checksum = $2 WHERE version OPERATOR(pg_catalog.=) $1 "
      "RETURNING version, name) "
      "INSERT INTO ferry.history (version, name, action, run_id, note) SELECT version, name, 'repaired', $3, $4 "
      "FROM m",
      {version, checksum, run_id, note});
}

std::vector<Ledger::RunningRun> Ledger::running_runs() {
  std::vector<RunningRun> out;
  if (!schema_exists()) return out;
  auto r =
      m_conn.exec(std::string("SELECT ") + k_run_cols +
                  ", coalesce(backend_pid, 0), EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a "
                  "WHERE a.pid OPERATOR(pg_catalog.=) ferry.runs.backend_pid AND coalesce(a.backend_start "
                  "OPERATOR(pg_catalog.<=) ferry.runs.started, true)) "
                  "FROM ferry.runs WHERE outcome OPERATOR(pg_catalog.=) 'running' ORDER BY started");
  for (int i = 0; i < r.rows(); ++i)
    out.push_back({run_from(r, i), static_cast<int>(r.integer(i, 13)), r.boolean(i, 14)});
  return out;
}

bool Ledger::mark_abandoned(const std::string& run_id, const std::string& why) {
  auto r = m_conn.exec_params(
      "UPDATE ferry.runs SET outcome = 'abandoned', finished = pg_catalog.now(), error = $2 WHERE id "
      "OPERATOR(pg_catalog.=) $1 AND outcome OPERATOR(pg_catalog.=) 'running' RETURNING id",
      {run_id, why});
  return r.rows() == 1;
}

void Ledger::record_accepted_risks(const std::vector<AcceptedRisk>& risks) {
  if (risks.empty()) return;
  m_conn.exec(R"SQL(
CREATE SCHEMA IF NOT EXISTS ferry;
CREATE TABLE IF NOT EXISTS ferry.accepted_risks (
  id       bigserial PRIMARY KEY,
  at       pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
  run_id   pg_catalog.text NOT NULL,
  version  pg_catalog.text NOT NULL,
  code     pg_catalog.text NOT NULL,
  reason   pg_catalog.text NOT NULL,
  location pg_catalog.text NOT NULL
))SQL");
  for (const auto& a : risks)
    m_conn.exec_params(
        "INSERT INTO ferry.accepted_risks (run_id, version, code, reason, location) "
        "VALUES ($1, $2, $3, $4, $5)",
        {a.run_id, a.version, a.code, a.reason, a.location});
}

std::vector<AcceptedRisk> Ledger::accepted_risks(int limit) {
  std::vector<AcceptedRisk> out;
  if (!m_conn.exec("SELECT pg_catalog.to_regclass('ferry.accepted_risks') IS NOT NULL").boolean(0, 0)) return out;
  auto r = m_conn.exec_params(
      "SELECT run_id, version, code, reason, location, "
      "pg_catalog.to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') FROM ferry.accepted_risks "
      "ORDER BY id DESC LIMIT $1",
      {std::to_string(limit)});
  for (int i = 0; i < r.rows(); ++i)
    out.push_back({r.text(i, 0), r.text(i, 1), r.text(i, 2), r.text(i, 3), r.text(i, 4), r.text(i, 5)});
  return out;
}

}  // namespace ferry::db
