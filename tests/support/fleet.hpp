// Test support for fleets: many databases of one cluster, made from a template (fast).
#pragma once
#include <string>
#include <vector>

#include "db/pg.hpp"
#include "support/fixtures.hpp"

namespace ferry::test {

// Creates `template_db` with `schema`, then one database per name from it (dropped first when
// present). Returns the names.
inline std::vector<std::string> make_fleet(PgCluster& pg, const std::vector<std::string>& names,
                                           const std::string& schema, const std::string& template_db = "fleet_tpl") {
  pg.create_db(template_db);
  pg.exec(template_db, schema);
  auto c = pg.connect("postgres");
  for (const auto& n : names) {
    c->exec("DROP DATABASE IF EXISTS " + db::quote_ident(n) + " WITH (FORCE)");
    c->exec("CREATE DATABASE " + db::quote_ident(n) + " TEMPLATE " + db::quote_ident(template_db));
  }
  return names;
}

// prefix_01 ... prefix_N (two digits at least).
inline std::vector<std::string> numbered(const std::string& prefix, int n) {
  std::vector<std::string> out;
  for (int i = 1; i <= n; ++i) out.push_back(prefix + (i < 10 ? "0" : "") + std::to_string(i));
  return out;
}

}  // namespace ferry::test
