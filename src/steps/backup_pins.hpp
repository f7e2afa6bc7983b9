// Automatic pins: the backup a run took before changing anything is pinned (backup.dir/ID.pin
// reading "pre-change backup of run R") until the run's changes are themselves backed up
// `keep` times (newer verified backups of the environment whose version is >= the version the
// run left), or until it is unpinned by hand. Retention releases these pins itself; a manual
// pin (`ferry backup pin`) is never released.
#pragma once
#include <string>
#include <vector>

#include "steps/context.hpp"

namespace ferry::steps {

// Pins `meta` as the pre-change backup of ctx.run_id when the stage has changed nothing yet.
// A failure to pin is a warning, never an error.
void pin_pre_change_backup(StageContext& ctx, const BackupMeta& meta);

// At the stage's end: writes the version the run left into its automatic pin, which makes the
// pin releasable. A stage that needs attention writes none: its pin stays until unpinned.
void note_pin_outcome(StageContext& ctx, const std::string& outcome, const std::string& version_after);

// Sets pin_reason of the pinned backups in `all` from their ID.pin ("pinned by hand" for a
// manual pin).
void read_pin_reasons(const config::Environment& env, Transports& transports, std::vector<BackupMeta>& all);

// Removes the automatic pins whose run's changes are backed up enough times and clears their
// `pinned` in `all` (newest first, as list_backups returns it). Never throws.
void release_automatic_pins(const config::Environment& env, Transports& transports, std::vector<BackupMeta>& all,
                            std::vector<std::string>* warnings);

}  // namespace ferry::steps
