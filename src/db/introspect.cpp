#include "db/introspect.hpp"

#include "core/text.hpp"

namespace ferry::db {

namespace {
// Namespaces that belong to the user: not system, not ferry's own.
constexpr const char* k_user_ns =
    "n.nspname NOT IN ('pg_catalog', 'information_schema', 'ferry') "
    "AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'";
}  // namespace

std::string schema_description(Connection& conn) {
  // One round trip: every object as a sortable line. Names of constraints and indexes are
  // included because a rollback must bring them back exactly.
  std::string ns = k_user_ns;
  std::string sql =
      "SELECT line FROM ("
      // tables, views, sequences, materialized views, partitioned tables
      " SELECT 'rel ' || n.nspname || '.' || c.relname || ' ' || c.relkind::text AS line"
      " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
      " WHERE c.relkind IN ('r','p','v','m','S','f') AND " +
      ns +
      " AND NOT (n.nspname = 'public' AND c.relname = 'alembic_version')"
      " UNION ALL"
      " SELECT 'col ' || n.nspname || '.' || c.relname || '.' || a.attname || ' ' ||"
      "   format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END ||"
      "   coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '') || ' #' || a.attnum::text"
      " FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
      " JOIN pg_namespace n ON n.oid = c.relnamespace"
      " LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum"
      " WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r','p','v','m','f') AND " +
      ns +
      " AND NOT (n.nspname = 'public' AND c.relname = 'alembic_version')"
      " UNION ALL"
      " SELECT 'con ' || n.nspname || '.' || c.relname || ' ' || co.conname || ' ' ||"
      "   pg_get_constraintdef(co.oid)"
      " FROM pg_constraint co JOIN pg_class c ON c.oid = co.conrelid"
      " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE " +
      ns +
      " AND NOT (n.nspname = 'public' AND c.relname = 'alembic_version')"
      " UNION ALL"
      " SELECT 'idx ' || pg_get_indexdef(i.indexrelid)"
      " FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid"
      " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE " +
      ns +
      " AND NOT (n.nspname = 'public' AND c.relname = 'alembic_version')"
      " UNION ALL"
      " SELECT 'seq ' || n.nspname || '.' || c.relname || ' ' || s.seqtypid::regtype::text || ' ' ||"
      "   s.seqstart || ' ' || s.seqincrement"
      " FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid"
      " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE " +
      ns +
      " UNION ALL"
      " SELECT 'view ' || n.nspname || '.' || c.relname || ' ' || pg_get_viewdef(c.oid)"
      " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
      " WHERE c.relkind IN ('v','m') AND " +
      ns +
      " UNION ALL"
      " SELECT 'fn ' || n.nspname || '.' || p.proname || '(' ||"
      "   pg_get_function_identity_arguments(p.oid) || ') ' || md5(p.prosrc)"
      " FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE " +
      ns +
      " UNION ALL"
      " SELECT 'type ' || n.nspname || '.' || t.typname || ' ' || t.typtype::text"
      " FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace"
      " WHERE t.typtype IN ('e','d','c') AND " +
      ns +
      " AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = t.typrelid AND c.relkind <> 'c')"
      " UNION ALL"
      " SELECT 'schema ' || n.nspname FROM pg_namespace n WHERE " +
      ns +
      " AND n.nspname <> 'public'"
      ") x ORDER BY line COLLATE \"C\"";
  auto r = conn.exec(sql);
  std::string out;
  for (int i = 0; i < r.rows(); ++i) {
    out += r.text(i, 0);
    out.push_back('\n');
  }
  return out;
}

std::string schema_fingerprint(Connection& conn) { return sha256_hex(schema_description(conn)); }

std::map<std::string, long long> row_counts(Connection& conn, const std::vector<std::string>& only) {
  std::vector<std::string> tables;
  if (only.empty()) {
    auto r = conn.exec(std::string("SELECT n.nspname || '.' || c.relname FROM pg_class c "
                                   "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND ") +
                       k_user_ns +
                       " AND NOT (n.nspname = 'public' AND c.relname = 'alembic_version') "
                       "ORDER BY 1");
    for (int i = 0; i < r.rows(); ++i) tables.push_back(r.text(i, 0));
  } else {
    for (const auto& t : only) {
      auto r = conn.exec_params(
          "SELECT n.nspname || '.' || c.relname FROM pg_class c "
          "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass($1)",
          {t});
      if (r.rows() == 0) throw Error(ErrorKind::Verify, "table '" + t + "' does not exist");
      tables.push_back(r.text(0, 0));
    }
  }
  std::map<std::string, long long> out;
  if (tables.empty()) return out;
  // One statement counts them all: one round trip, one snapshot.
  std::string sql;
  for (size_t i = 0; i < tables.size(); ++i) {
    if (i) sql += " UNION ALL ";
    sql += "SELECT " + std::to_string(i) + ", count(*) FROM " + quote_ident(tables[i]);
  }
  auto r = conn.exec(sql);
  for (int i = 0; i < r.rows(); ++i) out[tables[std::stoul(r.text(i, 0))]] = r.integer(i, 1);
  return out;
}

std::optional<std::string> column_type(Connection& conn, const std::string& table, const std::string& column) {
  auto r = conn.exec_params(
      "SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
      "WHERE a.attrelid = to_regclass($1) AND a.attname = $2 AND a.attnum > 0 "
      "AND NOT a.attisdropped",
      {table, column});
  if (r.rows() == 0) return std::nullopt;
  return r.text(0, 0);
}

std::string canonical_type(Connection& conn, const std::string& type) {
  try {
    auto r = conn.exec_params("SELECT format_type(to_regtype($1), NULL)", {type});
    if (r.rows() == 1 && !r.is_null(0, 0)) return r.text(0, 0);
  } catch (const Error&) {
  }
  return type;
}

}  // namespace ferry::db
