// ferry's queries about the catalogs name everything with its schema: nothing in them is
// decided by search_path, so no function or operator a database's users made can run in them
// (as ferry's role) or change what they say. See migrate/search_path_names.hpp.
#include <gtest/gtest.h>

#include "core/error.hpp"
#include "db/catalog_stamp.hpp"
#include "db/introspect.hpp"
#include "migrate/search_path_names.hpp"

using ferry::migrate::names_found_by_search_path;

namespace {
std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += s + "\n";
  return out;
}

size_t count(const std::string& sql) { return names_found_by_search_path(sql).size(); }
}  // namespace

TEST(SearchPathNames, EachKindOfLookupIsFound) {
  EXPECT_EQ(joined(names_found_by_search_path("SELECT quote_ident(relname) FROM pg_catalog.pg_class")),
            "function quote_ident at 7\n");
  EXPECT_EQ(count("SELECT 1 || 'x'"), 1u);                                                 // operator
  EXPECT_EQ(count("SELECT 'a'::text"), 1u);                                                // type
  EXPECT_EQ(count("SELECT 'a' COLLATE \"C\""), 1u);                                        // collation
  EXPECT_EQ(count("SELECT 1 FROM pg_class"), 1u);                                          // relation
  EXPECT_EQ(count("SELECT CASE 1 WHEN 1 THEN 2 END"), 1u);                                 // simple CASE (its '=')
  EXPECT_EQ(count("SELECT 1 WHERE 1 IN (1, 2)"), 1u);                                      // IN list
  EXPECT_EQ(count("SELECT 1 WHERE 1 IN (SELECT 1)"), 1u);                                  // IN subquery
  EXPECT_EQ(count("SELECT 1 WHERE 'a' NOT LIKE 'b'"), 1u);                                 // LIKE
  EXPECT_EQ(count("SELECT 1 WHERE 2 BETWEEN 1 AND 3"), 1u);                                // BETWEEN
  EXPECT_EQ(count("SELECT 'pg_class'::pg_catalog.regclass"), 1u);                          // a name looked up
  EXPECT_EQ(count("SELECT 1 WHERE 1 IS DISTINCT FROM 2"), 1u);                             // IS DISTINCT FROM's '='
  EXPECT_EQ(count("SELECT 1 FROM pg_catalog.pg_class ORDER BY oid USING <"), 1u);          // a sort operator
  EXPECT_EQ(count("INSERT INTO guard VALUES (1)"), 1u);                                    // a table a statement writes
  EXPECT_EQ(count("CREATE FUNCTION pg_temp.f() RETURNS trigger LANGUAGE sql AS ''"), 1u);  // a returned type
  EXPECT_EQ(count("CREATE TRIGGER t AFTER INSERT ON pg_temp.g FOR EACH ROW EXECUTE FUNCTION f()"), 1u);
  EXPECT_EQ(count("CREATE TEMP TABLE guard (id int); CREATE TABLE ferry.h (id bigserial)"), 0u);  // made, not found
}

TEST(SearchPathNames, QualifiedNamesAndCteNamesAreNot) {
  const std::string sql =
      "WITH c AS (SELECT oid FROM pg_catalog.pg_class) "
      "SELECT pg_catalog.quote_ident('x'::pg_catalog.text) OPERATOR(pg_catalog.||) 'y' COLLATE pg_catalog.\"C\", "
      "'pg_catalog.pg_class'::pg_catalog.regclass, 'pg_catalog'::pg_catalog.regnamespace, "
      "CASE WHEN 1 OPERATOR(pg_catalog.=) 1 THEN 2::bigint END "
      "FROM c WHERE c.oid OPERATOR(pg_catalog.=) ANY (SELECT 1) "
      "AND c.oid OPERATOR(pg_catalog.<>) ALL (ARRAY[1]::pg_catalog.oid[]) "
      "AND current_user IS NOT NULL AND coalesce(1, 2) > 0";
  // Only the last comparison is left to search_path.
  EXPECT_EQ(joined(names_found_by_search_path(sql)), "operator > at " + std::to_string(sql.rfind('>')) + "\n");
}

TEST(SearchPathNames, SqlThatDoesNotParseIsAnError) {
  EXPECT_THROW(names_found_by_search_path("SELECT FROM WHERE ("), ferry::Error);
}

// The description behind every fingerprint (baseline, proof, sidecar, status) and the stamp
// that lets status skip it: the queries that read the schema other roles may write.
TEST(SearchPathNames, TheSchemaDescriptionAndTheCatalogStampNameEverythingWithItsSchema) {
  EXPECT_EQ(joined(names_found_by_search_path(ferry::db::fingerprint_query())), "");
  for (int version : {130000, 140000, 150000})
    EXPECT_EQ(joined(names_found_by_search_path(ferry::db::catalog_stamp_query(version))), "") << version;
}

// The description's SQL text carries its own copy of "the user's schemas" (a raw literal whose
// whitespace is part of the catalog stamp's inputs); it must say what db::user_schema_test says.
TEST(SearchPathNames, TheDescriptionsUserSchemasAreTheOneDefinition) {
  auto squeeze = [](const std::string& s) {
    std::string out;
    for (char c : s)
      if (!std::isspace(static_cast<unsigned char>(c))) out.push_back(c);
    return out;
  };
  EXPECT_NE(squeeze(ferry::db::fingerprint_query()).find(squeeze(ferry::db::user_schema_test())), std::string::npos);
}
