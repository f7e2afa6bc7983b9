#include "db/preflight.hpp"

namespace ferry::db {

namespace {
// Sessions other than this one with a relation lock on one of `oids_sql`'s relations, and `where`.
std::vector<TableLockHolder> lock_sessions(Connection& conn, const std::string& oids_sql, const std::string& where,
                                           const std::vector<std::optional<std::string>>& params) {
  auto r = conn.exec_params(
      "WITH rel AS (" + oids_sql +
          ") "
          "SELECT a.pid, coalesce(a.application_name, ''), coalesce(a.state, ''), "
          "       coalesce(pg_catalog.date_trunc('second', a.query_start)::pg_catalog.text, ''), "
          "       coalesce(pg_catalog.date_trunc('second', pg_catalog.now() "
          "         OPERATOR(pg_catalog.-) a.xact_start)::pg_catalog.text, ''), "
          "       pg_catalog.min(l.relation::pg_catalog.regclass::pg_catalog.text) "
          "         OPERATOR(pg_catalog.||) ' (' OPERATOR(pg_catalog.||) "
          "         pg_catalog.string_agg(DISTINCT l.mode OPERATOR(pg_catalog.||) "
          "         CASE WHEN l.granted THEN '' ELSE ' waiting' END, ', ') OPERATOR(pg_catalog.||) ')' "
          "FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid "
          "  OPERATOR(pg_catalog.=) l.pid "
          "WHERE l.locktype OPERATOR(pg_catalog.=) 'relation' AND l.pid OPERATOR(pg_catalog.<>) "
          "  pg_catalog.pg_backend_pid() AND l.database OPERATOR(pg_catalog.=) (SELECT oid FROM "
          "  pg_catalog.pg_database WHERE datname OPERATOR(pg_catalog.=) "
          "  pg_catalog.current_database()) AND l.relation OPERATOR(pg_catalog.=) ANY "
          "  (SELECT oid FROM rel WHERE oid IS NOT NULL) AND " +
          where +
          " GROUP BY a.pid, a.application_name, a.state, a.query_start, a.xact_start "
          "ORDER BY a.xact_start NULLS LAST, a.pid LIMIT 10",
      params);
  std::vector<TableLockHolder> out;
  for (int i = 0; i < r.rows(); ++i)
    out.push_back(
        {static_cast<int>(r.integer(i, 0)), r.text(i, 1), r.text(i, 2), r.text(i, 3), r.text(i, 4), r.text(i, 5)});
  return out;
}
}  // namespace

PreflightReading read_preflight(Connection& conn, const std::vector<std::string>& tables, double max_age_s,
                                double max_lag_s) {
  PreflightReading out;
  std::string names;
  for (const auto& t : tables) {
    size_t dot = t.find('.');  // lint writes "schema.table" for a qualified name
    names += (names.empty() ? "" : "\n") +
             (dot == std::string::npos ? quote_ident(t) : quote_qualified(t.substr(0, dot), t.substr(dot + 1)));
  }
  const std::string k_tables =
      "SELECT pg_catalog.to_regclass(n)::pg_catalog.oid AS oid FROM "
      "pg_catalog.unnest(pg_catalog.string_to_array($1, E'\\n')) n";
  if (!tables.empty()) {
    out.old_transactions = lock_sessions(conn, k_tables,
                                         "a.xact_start OPERATOR(pg_catalog.<) (pg_catalog.now() OPERATOR(pg_catalog.-) "
                                         "pg_catalog.make_interval(secs => $2::pg_catalog.float8))",
                                         {names, std::to_string(max_age_s)});
    out.queued = lock_sessions(conn, k_tables, "NOT l.granted", {names});
  }
  out.tool_locks = lock_sessions(conn,
                                 "SELECT pg_catalog.to_regclass(n)::pg_catalog.oid AS oid FROM pg_catalog.unnest("
                                 "ARRAY['flyway_schema_history', 'alembic_version', 'sqitch.changes', 'sqitch.tags', "
                                 "'sqitch.releases']::pg_catalog.text[]) n",
                                 "l.granted AND l.mode OPERATOR(pg_catalog.<>) 'AccessShareLock'", {});
  // A role without pg_read_all_stats (pg_monitor) sees a replica's row with every column NULL
  // but pid and application_name: its lag is unknown, not small.
  auto r = conn.exec_params(
      "SELECT coalesce(application_name, ''), coalesce(pg_catalog.host(client_addr), 'local socket'), "
      "coalesce(extract(epoch FROM replay_lag)::pg_catalog.float8, 0), state IS NULL FROM "
      "pg_catalog.pg_stat_replication WHERE state IS NULL OR replay_lag OPERATOR(pg_catalog.>) "
      "pg_catalog.make_interval(secs => $1::pg_catalog.float8) ORDER BY replay_lag DESC NULLS LAST",
      {std::to_string(max_lag_s)});
  for (int i = 0; i < r.rows(); ++i) {
    if (r.text(i, 3) == "t")
      out.unreadable_replicas.push_back(r.text(i, 0));
    else
      out.lagging.push_back({r.text(i, 0), r.text(i, 1), std::stod(r.text(i, 2))});
  }
  return out;
}

}  // namespace ferry::db
