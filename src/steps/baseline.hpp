// The run's baseline: the state a rollback must prove it returned to, read before any step
// changes the database. When the first step is a backup, the backup reads it in its own
// snapshot (the one pg_dump dumps), so the fingerprint and the exact row counts are taken once
// for both the baseline and the sidecar, not twice.
#pragma once
#include <string>

#include "steps/context.hpp"

namespace ferry::steps {

// The fingerprint (and the description it hashes), every table's exact row count and the
// sequences' positions, as `db` sees them now.
Baseline read_baseline(db::Connection& db, const std::string& version);

// True when the playbook's first step is a backup: it reads the baseline (take_backup).
bool baseline_in_backup(const config::Playbook& pb);

// The baseline to prove against. Still left to the backup only when the backup failed before
// reading it: the backup is the first step and changes nothing, so nothing ran that changed
// the database, and the baseline is read now.
const Baseline& settled_baseline(StageContext& ctx);

}  // namespace ferry::steps
