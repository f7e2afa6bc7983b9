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
  return "INSERT INTO pg_temp.ferry_restored_ledger (version, name, checksum, down_sql, applied_at, duration_ms, "
         "run_id, "
         "destroys_data, down_restores_data) VALUES (" +
         quote_literal(m.version) + ", " + quote_literal(m.name) + ", " + quote_literal(m.checksum) + ", " +
         (m.down_sql ? quote_literal(*m.down_sql) : "NULL") + ", " +
         (m.applied_at.empty() ? "pg_catalog.now()" : quote_literal(m.applied_at)) + ", " +
         std::to_string(m.duration_ms) + ", " + quote_literal(m.run_id) + ", " + (m.destroys_data ? "true" : "false") +
         ", " + (m.down_restores_data ? "true" : "false") + ");\n";
}
}  // namespace

std::string Ledger::restore_fixup_sql(const std::string& run_id, const std::vector<AppliedMigration>& restored) {
  std::string post = "SELECT pg_catalog.set_config('search_path', 'public', false);\n";
  post += "CREATE TEMP TABLE pg_temp.ferry_restored_ledger (LIKE ferry.migrations);\n";
  for (const auto& m : restored) post += restored_row_sql(m);
  std::string rid = quote_literal(run_id);
  post +=
      "INSERT INTO ferry.history (version, name, action, run_id) SELECT version, name, 'reverted', " + rid +
      " FROM ferry.migrations m WHERE NOT EXISTS (SELECT 1 FROM pg_temp.ferry_restored_ledger r WHERE r.version "
      "OPERATOR(pg_catalog.=) m.version);\n"
      "DELETE FROM ferry.migrations m WHERE NOT EXISTS (SELECT 1 FROM pg_temp.ferry_restored_ledger r WHERE r.version "
      "OPERATOR(pg_catalog.=) m.version);\n"
      "INSERT INTO ferry.history (version, name, action, run_id) SELECT version, name, 'restored', " +
      rid +
      " FROM pg_temp.ferry_restored_ledger r WHERE NOT EXISTS (SELECT 1 FROM ferry.migrations m WHERE m.version "
      "OPERATOR(pg_catalog.=) r.version);\n"
      "INSERT INTO ferry.migrations SELECT * FROM pg_temp.ferry_restored_ledger r WHERE NOT EXISTS (SELECT 1 FROM "
      "ferry.migrations m WHERE m.version OPERATOR(pg_catalog.=) r.version);\n";
  return post;
}

void Ledger::copy_to(Connection& to) {
  auto tables = m_conn.exec(
      "SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) "
      "c.relnamespace WHERE n.nspname OPERATOR(pg_catalog.=) 'ferry' AND c.relkind OPERATOR(pg_catalog.=) 'r' AND "
      "c.relname OPERATOR(pg_catalog.<>) 'fingerprints' ORDER BY 1");  // its own pairs
  for (int i = 0; i < tables.rows(); ++i) {
    std::string t = "ferry." + quote_ident(tables.text(i, 0));
    if (to.exec("SELECT pg_catalog.to_regclass(" + quote_literal(t) + ") IS NULL").text(0, 0) == "t") continue;
    auto rows = m_conn.exec("SELECT coalesce(pg_catalog.json_agg(x), '[]') FROM " + t + " x");
    to.exec_params(
        "INSERT INTO " + t + " SELECT * FROM pg_catalog.json_populate_recordset(NULL::" + t + ", $1::pg_catalog.json)",
        {rows.text(0, 0)});
  }
  auto seqs = m_conn.exec(
      "SELECT pg_catalog.quote_ident(schemaname) OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) "
      "pg_catalog.quote_ident(sequencename), last_value FROM pg_catalog.pg_sequences WHERE schemaname "
      "OPERATOR(pg_catalog.=) 'ferry' AND last_value IS NOT NULL");
  for (int i = 0; i < seqs.rows(); ++i)
    to.exec_params(
        "SELECT pg_catalog.setval($1::pg_catalog.text::pg_catalog.regclass, $2::bigint) WHERE "
        "pg_catalog.to_regclass($1::pg_catalog.text) IS NOT NULL",
        {seqs.text(i, 0), seqs.text(i, 1)});
}

std::string Ledger::applied_at(const std::string& version) {
  if (!schema_exists()) return "";
  return m_conn
      .exec_params(std::string("SELECT pg_catalog.to_char(pg_catalog.max(at) AT TIME ZONE 'UTC', ") + k_utc_seconds +
                       ") FROM ferry.history WHERE version OPERATOR(pg_catalog.=) $1 AND action "
                       "OPERATOR(pg_catalog.=) 'applied'",
                   {version})
      .text(0, 0);
}

std::optional<std::string> Ledger::run_started(const std::string& run_id) {
  if (!schema_exists()) return std::nullopt;
  auto r = m_conn.exec_params(std::string("SELECT pg_catalog.to_char(started AT TIME ZONE 'UTC', ") + k_utc_seconds +
                                  ") FROM ferry.runs WHERE id OPERATOR(pg_catalog.=) $1",
                              {run_id});
  if (r.rows() == 0) return std::nullopt;
  return r.text(0, 0);
}

std::optional<Ledger::NewestChange> Ledger::newest_change(const std::string& time) {
  auto r = m_conn.exec_params(
      std::string("SELECT version OPERATOR(pg_catalog.||) ' (' OPERATOR(pg_catalog.||) name OPERATOR(pg_catalog.||) "
                  "') applied at ' OPERATOR(pg_catalog.||) pg_catalog.to_char(at AT TIME ZONE 'UTC', ") +
          k_utc_seconds +
          "), at OPERATOR(pg_catalog.<) $1::pg_catalog.timestamptz FROM ferry.history WHERE action "
          "OPERATOR(pg_catalog.=) 'applied' ORDER BY at DESC, id DESC LIMIT 1",
      {time});
  if (r.rows() == 0) return std::nullopt;
  return NewestChange{r.text(0, 0), r.text(0, 1) == "t"};
}

}  // namespace ferry::db
