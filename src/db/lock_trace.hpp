// The catalog reads of a lock trace (issue 9 item 3) and its table, ferry.lock_traces: the
// relation locks this backend holds, the user tables' relfilenodes and sizes, and the stored
// traces (JSON text, encoded by steps/lock_trace.*).
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

// ferry.lock_traces, created when missing (call outside a migration's transaction: the DDL's own
// locks would otherwise land in the trace).
void ensure_lock_traces(Connection& conn);
void store_lock_trace(Connection& conn, const std::string& version, const std::string& run_id,
                      const std::string& environment, const std::string& trace_json);
// The newest trace of each version (JSON text); empty when the table does not exist.
std::map<std::string, std::string> lock_traces(Connection& conn);

}  // namespace ferry::db
