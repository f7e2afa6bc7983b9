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
// sha256 of schema_description: tables, columns (type, nullability, default), constraints,
// indexes, sequences, views, functions of the user's schemas, excluding schema `ferry`,
// `alembic_version`, and the system schemas.
std::string schema_fingerprint(Connection& conn);

// Exact row counts of every user table ("schema.table"), or of the named tables.
// Throws Error(Verify) naming a table that does not exist.
std::map<std::string, long long> row_counts(Connection& conn, const std::vector<std::string>& only = {});

// The type of a column as PostgreSQL names it (format_type), or nullopt when it is absent.
std::optional<std::string> column_type(Connection& conn, const std::string& table, const std::string& column);

// Normalises a user-written type to PostgreSQL's spelling ("timestamptz" ->
// "timestamp with time zone") by asking the server.
std::string canonical_type(Connection& conn, const std::string& type);

}  // namespace ferry::db
