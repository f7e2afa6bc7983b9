// Restore by swap (backup.restore: swap): pg_restore -j into a new database, proven against the
// sidecar, then swapped in by name in one short transaction. See ARCHITECTURE.md.
#pragma once
#include "steps/context.hpp"
#include "steps/restore_window.hpp"

namespace ferry::steps {

// Restores `meta` by swap. Returns false, after a line saying why, when a swap cannot be used
// here (the caller then restores in one transaction): another setting, a tunnel, tools in a
// container, no CREATEDB right or ownership, sessions that would not leave. Throws
// RestoreNotApplied when it failed before the swap (the database untouched, the scratch
// database dropped); another Error when the swap happened but ferry's session or lock could
// not be taken back.
bool restore_by_swap(StageContext& ctx, const BackupMeta& meta);

}  // namespace ferry::steps
