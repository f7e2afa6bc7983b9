#include "steps/database_copy.hpp"

namespace ferry::steps::detail {

using db::quote_ident;
using db::quote_literal;

std::string create_like_sql(db::Connection& m, const std::string& original, const std::string& scratch) {
  auto r = m.exec_params(
      "SELECT pg_catalog.pg_get_userbyid(datdba), pg_catalog.pg_encoding_to_char(encoding), datcollate, datctype "
      "FROM pg_catalog.pg_database WHERE datname OPERATOR(pg_catalog.=) $1",
      {original});
  if (r.rows() == 0) throw Error(ErrorKind::Database, "database '" + original + "' does not exist");
  return "CREATE DATABASE " + quote_ident(scratch) + " TEMPLATE template0 OWNER " + quote_ident(r.text(0, 0)) +
         " ENCODING " + quote_literal(r.text(0, 1)) + " LC_COLLATE " + quote_literal(r.text(0, 2)) + " LC_CTYPE " +
         quote_literal(r.text(0, 3));
}

std::string properties_like_sql(db::Connection& m, const std::string& original, const std::string& scratch) {
  std::string db = quote_ident(scratch);
  auto d = m.exec_params(
      "SELECT datacl IS NULL, datconnlimit, pg_catalog.shobj_description(oid, 'pg_database'), "
      "pg_catalog.pg_get_userbyid(datdba) FROM pg_catalog.pg_database WHERE datname OPERATOR(pg_catalog.=) $1",
      {original});
  if (d.rows() == 0) throw Error(ErrorKind::Database, "database '" + original + "' does not exist");
  std::string sql = "ALTER DATABASE " + db + " CONNECTION LIMIT " + d.text(0, 1) + ";\n";
  if (!d.is_null(0, 2)) sql += "COMMENT ON DATABASE " + db + " IS " + quote_literal(d.text(0, 2)) + ";\n";
  if (d.text(0, 0) == "t") return sql;  // the default privileges: as a new database has them
  sql += "REVOKE ALL ON DATABASE " + db + " FROM PUBLIC, " + quote_ident(d.text(0, 3)) + ";\n";
  auto g = m.exec_params(
      "SELECT CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident("
      "pg_catalog.pg_get_userbyid(a.grantee)) END, a.privilege_type, a.is_grantable FROM pg_catalog.pg_database d, "
      "LATERAL pg_catalog.aclexplode(d.datacl) a WHERE d.datname OPERATOR(pg_catalog.=) $1 ORDER BY 1, 2",
      {original});
  for (int i = 0; i < g.rows(); ++i)
    sql += "GRANT " + g.text(i, 1) + " ON DATABASE " + db + " TO " + g.text(i, 0) +
           (g.text(i, 2) == "t" ? " WITH GRANT OPTION" : "") + ";\n";
  return sql;
}

}  // namespace ferry::steps::detail
