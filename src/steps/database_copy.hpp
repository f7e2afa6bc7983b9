// What a database carries outside any dump, copied from the database a swap restore replaces
// to the one it swaps in: owner (at CREATE), grants, comment, connection limit. ferry's own
// schema (runs, history, ledger), which backups exclude, is copied by db::Ledger::copy_to.
#pragma once
#include <string>

#include "db/pg.hpp"

namespace ferry::steps::detail {

// CREATE DATABASE for `scratch` like `original` (owner, encoding, collation, ctype), from
// template0 so that it starts empty.
std::string create_like_sql(db::Connection& maintenance, const std::string& original, const std::string& scratch);

// GRANTs (after revoking the defaults when the original's ACL is not the default), COMMENT and
// CONNECTION LIMIT making `scratch` look like `original`.
std::string properties_like_sql(db::Connection& maintenance, const std::string& original, const std::string& scratch);

}  // namespace ferry::steps::detail
