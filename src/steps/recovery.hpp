// What undoing a stage needs beyond each step's own undo: a new session after a lost one,
// and the restore of this run's backup (used by the migrate and sql steps' undo and by the
// runner's fallback after a failed proof).
#pragma once
#include <string>

#include "steps/context.hpp"

namespace ferry::steps {

// How to reach the environment's server, connected to `dbname` (no tunnel: the caller's).
db::ConnectParams connect_params(const config::Environment& env, const std::string& dbname);

// After a lost connection (PostgreSQL restarted, the backend terminated): a new session, the
// run's lock again, and what this run committed read again from the ledger (a transaction the
// server lost is not in it). True when the session is alive (at once or after reconnecting);
// false when the server stays away or another session took the lock or started a run.
bool recover_connection(StageContext& ctx);

// Restores this run's backup (one transaction: after a lost connection, once more). Reports
// the outcome as the undo of "database"; sets ctx.database_as_before and ctx.restored. False when it could not.
bool restore_run_backup(StageContext& ctx, const std::string& why);

}  // namespace ferry::steps
