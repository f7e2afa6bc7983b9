#include "db/ledger_lock_trace.hpp"

namespace ferry::db {

void ensure_lock_traces(Connection& conn) {
  if (conn.exec("SELECT pg_catalog.to_regclass('ferry.lock_traces') IS NOT NULL").boolean(0, 0)) return;
  conn.exec(R"SQL(
CREATE SCHEMA IF NOT EXISTS ferry;
CREATE TABLE IF NOT EXISTS ferry.lock_traces (
  id          bigserial PRIMARY KEY,
  at          pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
  version     pg_catalog.text NOT NULL,
  run_id      pg_catalog.text NOT NULL,
  environment pg_catalog.text NOT NULL,
  trace       pg_catalog.jsonb NOT NULL
))SQL");
}

void store_lock_trace(Connection& conn, const std::string& version, const std::string& run_id,
                      const std::string& environment, const std::string& trace_json) {
  conn.exec_params(
      "INSERT INTO ferry.lock_traces (version, run_id, environment, trace) VALUES ($1, $2, $3, $4::pg_catalog.jsonb)",
      {version, run_id, environment, trace_json});
}

std::map<std::string, std::string> lock_traces(Connection& conn) {
  std::map<std::string, std::string> out;
  if (!conn.exec("SELECT pg_catalog.to_regclass('ferry.lock_traces') IS NOT NULL").boolean(0, 0)) return out;
  auto r = conn.exec(
      "SELECT DISTINCT ON (version) version, trace::pg_catalog.text FROM ferry.lock_traces ORDER BY version, "
      "id DESC");
  for (int i = 0; i < r.rows(); ++i) out[r.text(i, 0)] = r.text(i, 1);
  return out;
}

}  // namespace ferry::db
