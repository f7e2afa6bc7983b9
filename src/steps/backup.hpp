// Verified backups (pg_dump), their sidecars, retention, and restore.
//
// A backup is one shell pipeline run on `backup.on`: pg_dump (where `database.tools` lives)
// | tee into a FIFO read whole by `pg_restore -f /dev/null` (the verification, while the dump
// is written) | compressor | tee into the file | sha256sum. So the dump never crosses
// ferry's machine unless backup.on is local, memory stays flat, and the verification costs
// no second pass. The password reaches pg_dump through the environment, never argv.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "steps/step.hpp"

namespace ferry::steps {

std::unique_ptr<Step> make_backup_step(const config::StepSpec& spec);

// Takes a verified backup now; sets ctx.backup. Throws on any failure, leaving no partial file.
BackupMeta take_backup(StageContext& ctx, const std::string& step_label);

// Every backup's sidecar under backup.dir, newest first.
std::vector<BackupMeta> list_backups(const config::Environment& env, Transports& transports);

// Restores the backup into the database in ONE transaction: user schemas dropped, the dump
// replayed, ferry.migrations set back to the backup's ledger. A failure changes nothing.
void restore_backup(StageContext& ctx, const BackupMeta& meta);

// Removes verified backups beyond backup.keep (newest kept). Returns how many were removed.
int prune_backups(const config::Environment& env, Transports& transports);

// The command a human runs to restore by hand (secrets as $PGPASSWORD).
std::string manual_restore_command(const config::Environment& env, const BackupMeta& meta);

nlohmann::json backup_to_json(const BackupMeta& m, bool with_ledger);

}  // namespace ferry::steps
