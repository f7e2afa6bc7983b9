// The catalog reads of a lock trace (issue 9 item 3): the relation locks this backend holds and
// the user tables' relfilenodes and sizes. Its table, ferry.lock_traces, is in
// db/ledger_lock_trace.* with the rest of ferry's own tables.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "db/pg.hpp"

namespace ferry::db {

struct TableState {
  std::string name;  // as regclass prints it: "orders", "shop.orders"
  long long filenode = 0;
  double rows = -1;     // pg_class.reltuples (-1: never analysed)
  long long bytes = 0;  // relpages * block_size: pg_table_size would lock the table
};

// Every user table (not ferry's, not the system's), by oid: one catalog read, no table locked.
std::map<long long, TableState> user_tables(Connection& conn);

struct HeldLock {
  std::string mode;      // pg_locks.mode: "AccessExclusiveLock"
  long long relation{};  // oid
};
// The granted relation locks of this backend on user tables (advisory, virtualxid, transactionid
// and catalog locks left out).
std::vector<HeldLock> own_relation_locks(Connection& conn);

}  // namespace ferry::db
