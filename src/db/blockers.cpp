#include "db/blockers.hpp"

#include "db/introspect.hpp"

namespace ferry::db {

std::vector<TableLockHolder> table_lock_holders(Connection& conn, int own_pid, int limit) {
  auto r = conn.exec_params(
      "SELECT a.pid, coalesce(a.application_name, ''), coalesce(a.state, ''), "
      "       coalesce(pg_catalog.date_trunc('second', a.query_start)::pg_catalog.text, ''), "
      "       coalesce(pg_catalog.date_trunc('second', pg_catalog.now() OPERATOR(pg_catalog.-) "
      "         a.xact_start)::pg_catalog.text, ''), "
      "       pg_catalog.min(l.relation::pg_catalog.regclass::pg_catalog.text) "
      "FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid OPERATOR(pg_catalog.=) l.pid "
      "JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) l.relation "
      "JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace "
      "WHERE l.granted AND l.locktype OPERATOR(pg_catalog.=) 'relation' AND l.pid OPERATOR(pg_catalog.<>) $1::int "
      "  AND l.database OPERATOR(pg_catalog.=) (SELECT oid FROM pg_catalog.pg_database WHERE datname "
      "    OPERATOR(pg_catalog.=) pg_catalog.current_database()) "
      "  AND " +
          user_schema_test("n.nspname", true) +  // ferry's ledger too: a lock on it is in the way
          " GROUP BY a.pid, a.application_name, a.state, a.query_start, a.xact_start "
          "ORDER BY a.xact_start NULLS LAST, a.pid LIMIT $2::int",
      {std::to_string(own_pid), std::to_string(limit)});
  std::vector<TableLockHolder> out;
  for (int i = 0; i < r.rows(); ++i)
    out.push_back(
        {static_cast<int>(r.integer(i, 0)), r.text(i, 1), r.text(i, 2), r.text(i, 3), r.text(i, 4), r.text(i, 5)});
  return out;
}

std::string describe(const TableLockHolder& h) {
  std::string out = "pid " + std::to_string(h.pid) + " (application_name '" + h.application_name + "'";
  if (!h.state.empty()) out += ", " + h.state;
  if (!h.query_start.empty()) out += ", query started " + h.query_start;
  if (!h.age.empty()) out += ", transaction open " + h.age;
  return out + ", holds a lock on " + h.relation + ")";
}

}  // namespace ferry::db
