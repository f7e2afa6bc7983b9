#include "db/lock_trace.hpp"

#include "db/introspect.hpp"

namespace ferry::db {

namespace {
const std::string k_user_ns = user_schema_test();
}

std::map<long long, TableState> user_tables(Connection& conn) {
  auto r = conn.exec(
      std::string(
          "SELECT c.oid, c.oid::pg_catalog.regclass::pg_catalog.text, c.relfilenode, c.reltuples::pg_catalog.float8, "
          "c.relpages::bigint OPERATOR(pg_catalog.*) pg_catalog.current_setting('block_size')::bigint "
          "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace "
          "WHERE c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'm']::pg_catalog.\"char\"[]) AND ") +
      k_user_ns);
  std::map<long long, TableState> out;
  for (int i = 0; i < r.rows(); ++i)
    out[r.integer(i, 0)] = TableState{r.text(i, 1), r.integer(i, 2), std::stod(r.text(i, 3)), r.integer(i, 4)};
  return out;
}

std::vector<HeldLock> own_relation_locks(Connection& conn) {
  auto r = conn.exec(std::string("SELECT l.mode, l.relation FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_class c "
                                 "ON c.oid OPERATOR(pg_catalog.=) l.relation JOIN pg_catalog.pg_namespace n ON n.oid "
                                 "OPERATOR(pg_catalog.=) c.relnamespace WHERE l.pid OPERATOR(pg_catalog.=) "
                                 "pg_catalog.pg_backend_pid() AND l.locktype OPERATOR(pg_catalog.=) 'relation' AND "
                                 "l.granted AND c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p', "
                                 "'m']::pg_catalog.\"char\"[]) AND ") +
                     k_user_ns + " ORDER BY l.relation, l.mode");
  std::vector<HeldLock> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back({r.text(i, 0), r.integer(i, 1)});
  return out;
}

}  // namespace ferry::db
