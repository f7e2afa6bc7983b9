// db::Ledger, what a rollback and a restore read and write of ferry's own tables: the plan's
// reads (the newest change, when a version was applied or a run started; runs_since is in
// ledger.cpp, beside the other run reads),
// the ledger fix-up sent inside the restore's transaction, and the copy of ferry's schema into
// a swapped-in database.
#include "db/ledger.hpp"

namespace ferry::db {

namespace {
constexpr const char* k_utc_seconds = "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'";

std::string restored_row_sql(const AppliedMigration& m) {
  return "INSERT INTO ferry_restored_ledger (version, name, checksum, down_sql, applied_at, duration_ms, run_id, "
         "destroys_data, down_restores_data) VALUES (" +
         quote_literal(m.version) + ", " + quote_literal(m.name) + ", " + quote_literal(m.checksum) + ", " +
         (m.down_sql ? quote_literal(*m.down_sql) : "NULL") + ", " +
         (m.applied_at.empty() ? "now()" : quote_literal(m.applied_at)) + ", " + std::to_string(m.duration_ms) + ", " +
         quote_literal(m.run_id) + ", " + (m.destroys_data ? "true" : "false") + ", " +
         (m.down_restores_data ? "true" : "false") + ");\n";
}
}  // namespace

std::string Ledger::restore_fixup_sql(const std::string& run_id, const std::vector<AppliedMigration>& restored) {
  std::string post = "SELECT pg_catalog.set_config('search_path', 'public', false);\n";
  post += "CREATE TEMP TABLE ferry_restored_ledger (LIKE ferry.migrations);\n";
  for (const auto& m : restored) post += restored_row_sql(m);
  std::string rid = quote_literal(run_id);
  post +=
      "INSERT INTO ferry.history (version, name, action, run_id) SELECT version, name, 'reverted', " + rid +
      " FROM ferry.migrations m WHERE NOT EXISTS (SELECT 1 FROM ferry_restored_ledger r WHERE r.version = m.version);\n"
      "DELETE FROM ferry.migrations m WHERE NOT EXISTS (SELECT 1 FROM ferry_restored_ledger r WHERE r.version = "
      "m.version);\n"
      "INSERT INTO ferry.history (version, name, action, run_id) SELECT version, name, 'restored', " +
      rid +
      " FROM ferry_restored_ledger r WHERE NOT EXISTS (SELECT 1 FROM ferry.migrations m WHERE m.version = r.version);\n"
      "INSERT INTO ferry.migrations SELECT * FROM ferry_restored_ledger r WHERE NOT EXISTS (SELECT 1 FROM "
      "ferry.migrations m WHERE m.version = r.version);\n";
  return post;
}

void Ledger::copy_to(Connection& to) {
  auto tables = m_conn.exec(
      "SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
      "WHERE n.nspname = 'ferry' AND c.relkind = 'r' AND c.relname <> 'fingerprints' ORDER BY 1");  // its own pairs
  for (int i = 0; i < tables.rows(); ++i) {
    std::string t = "ferry." + quote_ident(tables.text(i, 0));
    if (to.exec("SELECT to_regclass(" + quote_literal(t) + ") IS NULL").text(0, 0) == "t") continue;
    auto rows = m_conn.exec("SELECT coalesce(json_agg(x), '[]') FROM " + t + " x");
    to.exec_params("INSERT INTO " + t + " SELECT * FROM json_populate_recordset(NULL::" + t + ", $1::json)",
                   {rows.text(0, 0)});
  }
  auto seqs = m_conn.exec(
      "SELECT pg_catalog.quote_ident(schemaname) || '.' || pg_catalog.quote_ident(sequencename), last_value "
      "FROM pg_catalog.pg_sequences WHERE schemaname = 'ferry' AND last_value IS NOT NULL");
  for (int i = 0; i < seqs.rows(); ++i)
    to.exec_params("SELECT pg_catalog.setval($1::text::regclass, $2::bigint) WHERE to_regclass($1::text) IS NOT NULL",
                   {seqs.text(i, 0), seqs.text(i, 1)});
}

std::string Ledger::applied_at(const std::string& version) {
  if (!schema_exists()) return "";
  return m_conn
      .exec_params(std::string("SELECT to_char(max(at) AT TIME ZONE 'UTC', ") + k_utc_seconds +
                       ") FROM ferry.history WHERE version = $1 AND action = 'applied'",
                   {version})
      .text(0, 0);
}

std::optional<std::string> Ledger::run_started(const std::string& run_id) {
  if (!schema_exists()) return std::nullopt;
  auto r = m_conn.exec_params(
      std::string("SELECT to_char(started AT TIME ZONE 'UTC', ") + k_utc_seconds + ") FROM ferry.runs WHERE id = $1",
      {run_id});
  if (r.rows() == 0) return std::nullopt;
  return r.text(0, 0);
}

std::optional<Ledger::NewestChange> Ledger::newest_change(const std::string& time) {
  auto r = m_conn.exec_params(
      std::string("SELECT version || ' (' || name || ') applied at ' || to_char(at AT TIME ZONE 'UTC', ") +
          k_utc_seconds +
          "), at < $1::timestamptz FROM ferry.history WHERE action = 'applied' ORDER BY at DESC, id DESC LIMIT 1",
      {time});
  if (r.rows() == 0) return std::nullopt;
  return NewestChange{r.text(0, 0), r.text(0, 1) == "t"};
}

}  // namespace ferry::db
