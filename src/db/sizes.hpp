// Table sizes as the planner knows them (pg_class), for `ferry lint`'s levels.
#pragma once
#include <map>
#include <set>
#include <string>

#include "db/pg.hpp"

namespace ferry::db {

struct RelationSize {
  double rows = -1;     // pg_class.reltuples: an estimate; -1 when never vacuumed or analysed
  long long bytes = 0;  // pg_table_size: heap and TOAST, without indexes
};

// Sizes of the named tables ("name" or "schema.name", resolved with the server's search_path);
// tables that do not exist are left out. Reads catalogs only: no table is scanned or locked.
std::map<std::string, RelationSize> relation_sizes(Connection& conn, const std::set<std::string>& names);
// The same in a transaction of its own under a 1s lock_timeout: pg_table_size opens each table
// (ACCESS SHARE), and behind a queued ACCESS EXCLUSIVE it would wait for good. Throws when a
// table cannot be read within it (the transaction rolled back).
std::map<std::string, RelationSize> relation_sizes_nowait(Connection& conn, const std::set<std::string>& names);

}  // namespace ferry::db
