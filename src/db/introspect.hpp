// Reading the user's schema: the fingerprint of SPEC section 10, row counts, columns.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "db/pg.hpp"

namespace ferry::db {

// The ordered, human-readable description the fingerprint hashes (one object per line).
std::string schema_description(Connection& conn);
// sha256 of schema_description: what "as before" means for the schema. Per object of the user's
// schemas (excluding schema `ferry`, `alembic_version` and the system schemas), as a user sees
// it: schemas (owner, grants, comments); tables, views, sequences (kind, owner, grants,
// UNLOGGED, reloptions, row-level security, partitioning); live columns in order (name, type,
// nullability, default, identity, generated, collation, column grants); constraints, indexes,
// triggers, rules and policies by their definition text; sequence options; functions (body and
// attributes: SECURITY DEFINER, SET search_path, volatility...; owner, grants); types (enum
// labels in order, domains); comments; extensions; event triggers; and the database's own
// settings (ALTER DATABASE/ROLE ... SET). Never internal numbers (OIDs, attnum): a restored
// table whose history dropped a column has the same fingerprint.
std::string schema_fingerprint(Connection& conn);
// schema_fingerprint's one statement: a query of one row, one text value. For a caller that asks
// it in the same statement (the same snapshot) as something else (db/catalog_stamp.*).
std::string fingerprint_query();

// SQL, true when reading the table of pg_class row `c` as this role applies its row-level
// security policies: the read would run the policies' code (their owner's functions) as the
// role that runs ferry, and see only the rows they let through. Row counts and Alembic's table
// are never read then.
extern const char* const k_row_security_applies;
// SQL, true when the schema named by `column` (a pg_namespace.nspname) holds the user's objects:
// not pg_catalog, information_schema, a TOAST or temporary schema (their `_` escaped in LIKE:
// a user's schema "pgxtoast" is the user's) or, unless `with_ferry`, ferry's own. The one
// definition of "the user's schemas" for descriptions, row counts, lock traces, blockers and
// restores.
std::string user_schema_test(const std::string& column = "n.nspname", bool with_ferry = false);
// Put in front of a read of user tables sent as one string: the read runs with
// row_security = off, so a policy that applies (switched on after a check, say) makes
// PostgreSQL refuse it (SQLSTATE 42501) instead of running the policy. Not for use inside a
// transaction ferry opened: SET LOCAL would last until that transaction ends.
extern const char* const k_row_security_off;
// What differs between two descriptions, for a message: "gone: LINE", "new: LINE" (at most
// `limit` lines, then "and N more").
std::string describe_difference(const std::string& before, const std::string& now, size_t limit = 5);

// "schema.table" as ferry names a table in row counts and sidecars. A part containing '.' or
// '"' is double-quoted ("my.schema"."odd.name"), so two tables never share a name.
std::string table_key(const std::string& schema, const std::string& table);

// Exact row counts of every user table (keyed by table_key), or of the named tables.
// Throws Error(Verify) naming a table that does not exist.
std::map<std::string, long long> row_counts(Connection& conn, const std::vector<std::string>& only = {});

// Where a sequence stands: its last value (nullopt before its first nextval, or when it
// cannot be read) and its direction.
struct SequencePosition {
  std::optional<long long> last_value;
  bool ascending = true;
};
std::map<std::string, SequencePosition> sequence_positions(Connection& conn);
// One line per sequence that is behind where it was `before` (moved back, or reset). A
// sequence that moved forward is as before: sequences never give numbers back, and a
// rolled-back insert leaves them ahead too.
std::vector<std::string> sequences_behind(const std::map<std::string, SequencePosition>& before,
                                          const std::map<std::string, SequencePosition>& now);

// The database's own settings (ALTER DATABASE ... SET, ALTER ROLE ... IN DATABASE ... SET).
struct DatabaseSetting {
  std::string role;     // "" = every role (ALTER DATABASE)
  std::string setting;  // "name=value" as pg_db_role_setting stores it
};
std::vector<DatabaseSetting> database_settings(Connection& conn);
// SQL (for psql, inside the restore's transaction) that sets database `dbname`'s settings back
// to exactly `settings`: every current setting is reset first.
std::string database_settings_sql(const std::string& dbname, const std::vector<DatabaseSetting>& settings);

// The type of a column as PostgreSQL names it (format_type), or nullopt when it is absent.
std::optional<std::string> column_type(Connection& conn, const std::string& table, const std::string& column);

// Normalises a user-written type to PostgreSQL's spelling ("timestamptz" ->
// "timestamp with time zone") by asking the server.
std::string canonical_type(Connection& conn, const std::string& type);

}  // namespace ferry::db
