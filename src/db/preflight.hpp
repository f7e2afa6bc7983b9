// The preflight's reads (catalog views only, nothing locked or changed): who holds or waits for
// locks on the tables a run's migrations touch, another tool's migration lock, replication lag.
#pragma once
#include <string>
#include <vector>

#include "db/blockers.hpp"
#include "db/pg.hpp"

namespace ferry::db {

struct LaggingReplica {
  std::string application_name;
  std::string client_addr;
  double replay_lag_s = 0;
};

struct PreflightReading {
  std::vector<TableLockHolder> old_transactions;  // open longer than max_age, holding or waiting on the tables
  std::vector<TableLockHolder> queued;            // waiting (not granted) for a lock on the tables
  std::vector<TableLockHolder> tool_locks;        // holding flyway_schema_history / alembic_version / sqitch.*
  std::vector<LaggingReplica> lagging;            // pg_stat_replication replay_lag over max_lag
  std::vector<std::string> unreadable_replicas;   // application_name of replicas whose lag this role cannot read
};

// `tables` as lint names them ("tasks", "public.tasks"); sessions other than this one only.
PreflightReading read_preflight(Connection& conn, const std::vector<std::string>& tables, double max_age_s,
                                double max_lag_s);

}  // namespace ferry::db
