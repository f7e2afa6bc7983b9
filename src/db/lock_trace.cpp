#include "db/lock_trace.hpp"

namespace ferry::db {

namespace {
constexpr const char* k_user_ns =
    "n.nspname NOT IN ('pg_catalog', 'information_schema', 'ferry') AND n.nspname NOT LIKE 'pg_toast%' "
    "AND n.nspname NOT LIKE 'pg_temp%'";
}

std::map<long long, TableState> user_tables(Connection& conn) {
  auto r = conn.exec(
      std::string(
          "SELECT c.oid, c.oid::regclass::text, c.relfilenode, c.reltuples::float8, "
          "c.relpages::bigint * current_setting('block_size')::bigint FROM pg_class c JOIN pg_namespace n ON n.oid = "
          "c.relnamespace WHERE c.relkind IN ('r', 'm') AND ") +
      k_user_ns);
  std::map<long long, TableState> out;
  for (int i = 0; i < r.rows(); ++i)
    out[r.integer(i, 0)] = TableState{r.text(i, 1), r.integer(i, 2), std::stod(r.text(i, 3)), r.integer(i, 4)};
  return out;
}

std::vector<HeldLock> own_relation_locks(Connection& conn) {
  auto r = conn.exec(std::string("SELECT l.mode, l.relation FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                                 "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE l.pid = pg_backend_pid() "
                                 "AND l.locktype = 'relation' AND l.granted AND c.relkind IN ('r', 'p', 'm') AND ") +
                     k_user_ns + " ORDER BY l.relation, l.mode");
  std::vector<HeldLock> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back({r.text(i, 0), r.integer(i, 1)});
  return out;
}

}  // namespace ferry::db
