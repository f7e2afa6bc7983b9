// Who is likely in the way when a migration's lock_timeout expires: the other sessions of this
// database holding a granted lock on a user table, oldest transaction first. Read from pg_locks and
// pg_stat_activity after ferry's own transaction was rolled back (ferry no longer waits, so
// pg_blocking_pids has nothing to say): a candidate, not a proof.
#pragma once
#include <string>
#include <vector>

#include "db/pg.hpp"

namespace ferry::db {

struct TableLockHolder {
  int pid = 0;
  std::string application_name;
  std::string state;        // "idle in transaction", "active"...
  std::string query_start;  // timestamp of its last statement
  std::string age;          // how long its transaction has been open ("00:00:12.3")
  std::string relation;     // one table it holds a lock on
};

// Up to `limit` sessions other than `own_pid`, oldest transaction first. Catalog reads only.
std::vector<TableLockHolder> table_lock_holders(Connection& conn, int own_pid, int limit = 3);

// "pid 123 (application_name 'psql', idle in transaction, query started 2026-..., transaction open 00:00:02, holds
// public.t)"
std::string describe(const TableLockHolder& h);

}  // namespace ferry::db
