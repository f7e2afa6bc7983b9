#include "db/sizes.hpp"

namespace ferry::db {

std::map<std::string, RelationSize> relation_sizes(Connection& conn, const std::set<std::string>& names) {
  std::map<std::string, RelationSize> out;
  for (const auto& name : names) {
    auto r = conn.exec_params(
        "SELECT c.reltuples::pg_catalog.float8, pg_catalog.pg_table_size(c.oid) FROM pg_catalog.pg_class c "
        "WHERE c.oid OPERATOR(pg_catalog.=) pg_catalog.to_regclass($1) AND c.relkind OPERATOR(pg_catalog.=) ANY "
        "(ARRAY['r', 'p', 'm']::pg_catalog.\"char\"[])",
        {quote_ident(name)});
    if (r.rows() == 1) out[name] = RelationSize{std::stod(r.text(0, 0)), r.integer(0, 1)};
  }
  return out;
}

std::map<std::string, RelationSize> relation_sizes_nowait(Connection& conn, const std::set<std::string>& names) {
  if (names.empty()) return {};
  try {
    conn.exec("BEGIN");
    conn.exec("SET LOCAL lock_timeout = '1s'");
    auto out = relation_sizes(conn, names);
    conn.exec("COMMIT");
    return out;
  } catch (...) {
    conn.rollback_if_open();
    throw;
  }
}

}  // namespace ferry::db
