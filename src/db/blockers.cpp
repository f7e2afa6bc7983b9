#include "db/blockers.hpp"

namespace ferry::db {

std::vector<TableLockHolder> table_lock_holders(Connection& conn, int own_pid, int limit) {
  auto r = conn.exec_params(
      "SELECT a.pid, coalesce(a.application_name, ''), coalesce(a.state, ''), "
      "       coalesce(date_trunc('second', a.query_start)::text, ''), "
      "       coalesce(date_trunc('second', now() - a.xact_start)::text, ''), "
      "       min(l.relation::regclass::text) "
      "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
      "JOIN pg_class c ON c.oid = l.relation "
      "JOIN pg_namespace n ON n.oid = c.relnamespace "
      "WHERE l.granted AND l.locktype = 'relation' AND l.pid <> $1::int "
      "  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
      "  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' "
      "GROUP BY a.pid, a.application_name, a.state, a.query_start, a.xact_start "
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
