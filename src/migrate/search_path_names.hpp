// Which names of a query PostgreSQL looks up through search_path, read by its own parser
// (libpg_query). ferry's queries about the catalogs run as ferry's role, often a superuser, in
// databases whose schemas other roles may write: a function or operator there that matches an
// argument type better than pg_catalog's wins the lookup and runs (CVE-2018-1058). The tests
// hold ferry's catalog SQL to an empty list here.
#pragma once
#include <string>
#include <vector>

namespace ferry::migrate {

// One entry per lookup that search_path decides, as "KIND NAME at OFFSET": a function, operator,
// type, collation or relation named without a schema (CTE names excepted), a simple CASE or an
// IN (which compare with an unqualified '='), a BETWEEN, and a string cast to regclass, regproc,
// regtype... that names no schema. The bodies of DO blocks and functions are strings to the
// parser and are not read. Throws Error(Config) when the SQL does not parse.
std::vector<std::string> names_found_by_search_path(const std::string& sql);

}  // namespace ferry::migrate
