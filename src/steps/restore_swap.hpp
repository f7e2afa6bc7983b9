// Restore by swap (backup.restore: swap): pg_restore -j into a new database, proven against the
// sidecar, then swapped in by name in one short transaction. See ARCHITECTURE.md.
#pragma once
#include "steps/context.hpp"

namespace ferry::steps {

// Restores `meta` by swap. Returns false, after a line saying why, when a swap cannot be used
// here (the caller then restores in one transaction): another setting, a tunnel, tools in a
// container, no CREATEDB right or ownership, sessions that would not leave. Throws
// RestoreNotApplied when it failed before the swap (the database untouched, the scratch
// database dropped); another Error when the swap happened but ferry's session or lock could
// not be taken back.
bool restore_by_swap(StageContext& ctx, const BackupMeta& meta);

// A swap restore killed between its CREATE DATABASE and the swap leaves its copy behind. Called
// by `ferry rollback` and `ferry backup` while they hold the environment's lock (so no swap of
// this database is under way): drops this database's ferry_restore_* copies that no session
// uses; names, and keeps, those in use, ferry_replaced_* and older unattributable ones. Never
// the live database.
void drop_leftover_restores(db::Connection& db, const config::Environment& env, report::Reporter& rep);

}  // namespace ferry::steps
