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

#include "core/error.hpp"
#include "steps/step.hpp"

namespace ferry::steps {

std::unique_ptr<Step> make_backup_step(const config::StepSpec& spec);

// Takes a verified backup now; sets ctx.backup. Throws on any failure, leaving no partial file.
BackupMeta take_backup(StageContext& ctx, const std::string& step_label);

// True when `id` is ENV-YYYYMMDDTHHMMSSZ-XXXX of this environment (so no '/', no '..').
bool valid_backup_id(const std::string& env_name, const std::string& id);

// This environment's backups under backup.dir, newest first (by the time in the ID). Only
// sidecars whose ID is ENV-YYYYMMDDTHHMMSSZ-XXXX of this environment, whose `environment` is
// this one and whose name is ID.json count; `file` is rebuilt from backup.dir and the ID.
// Unreadable, ill-typed or inconsistent sidecars are skipped, each with a line in `warnings`.
std::vector<BackupMeta> list_backups(const config::Environment& env, Transports& transports,
                                     std::vector<std::string>* warnings = nullptr);

// Thrown by restore_backup when the restore transaction did not commit: nothing changed.
class RestoreNotApplied : public Error {
 public:
  using Error::Error;
};

// Restores the backup into the database in ONE transaction: user schemas and large objects
// dropped, the dump replayed, ferry.migrations set back to the backup's ledger. The COMMIT is
// sent only when every producer succeeded. Throws RestoreNotApplied when the transaction is
// known not to have committed, another Error when it may have. Or by swap (backup.restore:
// swap): returns true when it did, the restored database's fingerprint and row counts then
// already proven equal to the sidecar's before it was swapped in.
bool restore_backup(StageContext& ctx, const BackupMeta& meta);

// Removes verified, unpinned backups beyond backup.keep (newest kept) and older than
// backup.keep_days (by the time in the ID); with both set, only those beyond both; pinned ones
// are never removed and not counted. Returns how many were removed.
int prune_backups(const config::Environment& env, Transports& transports, std::vector<std::string>* warnings = nullptr);

// Writes (pin) or removes (unpin) backup.dir/ID.pin on backup.on. Throws Error(Config) for an ID
// that is not one of this environment's listed backups. Returns false when nothing changed.
bool set_backup_pin(const config::Environment& env, Transports& transports, const std::string& id, bool pin);

// "" when the backup's file exists in backup.dir (not a symlink) and matches its sha256; else why not.
std::string check_backup_file(const config::Environment& env, Transports& transports, const BackupMeta& meta);

// The newest verified backup of `env` other than `except_id` whose file matches its sha256.
std::optional<BackupMeta> newest_good_backup(const config::Environment& env, Transports& transports,
                                             const std::string& except_id = "");

// The backup to tell a human to restore: `preferred` when its file matches its sha256 (or
// cannot be checked), else the newest of the environment that does (nullopt: none); `why`
// then says what is wrong with `preferred`. Never throws.
std::optional<BackupMeta> restorable_backup(const config::Environment& env, Transports& transports,
                                            const BackupMeta& preferred, std::string& why);

// The command a human runs to restore by hand (secrets as $PGPASSWORD).
std::string manual_restore_command(const config::Environment& env, const BackupMeta& meta);

nlohmann::json backup_to_json(const BackupMeta& m, bool with_ledger);

}  // namespace ferry::steps
