// What `ferry rollback` is about to do, shown before any confirmation and by --dry-run: the
// chosen backup, the versions and runs it undoes, and the writes a restore discards.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "config/model.hpp"
#include "core/error.hpp"
#include "db/ledger.hpp"
#include "report/reporter.hpp"
#include "steps/context.hpp"

namespace ferry::run {

struct RollbackOptions;
class RollbackDocument;

struct RollbackPlan {
  std::optional<steps::BackupMeta> backup;  // nullopt for `--to`
  long long backup_age_s = -1;
  bool alembic = false;
  std::string current_version;
  std::string target_version;                   // the version after the rollback
  std::vector<db::AppliedMigration> undo;       // newest first (native migrations)
  std::vector<db::RunRecord> runs_since;        // runs active or started since the backup
  std::optional<steps::TableWrites> discarded;  // nullopt: unknown
  bool writes_known = false;
  // The backup was taken after the newest change it would undo (e.g. a nightly after a bad
  // release): restoring it does not undo that change.
  bool newer_backup = false;
  std::string newest_change;             // "VERSION (NAME) applied at TIME"
  std::string lock_holder;               // "" when free
  std::optional<db::LockHolder> holder;  // the same, for --json
};

// The backup `--backup` names: an ID, `latest`, `before:VERSION` (the newest taken before
// VERSION was applied) or `before-run:RUN_ID` (that run's own backup, else the newest taken
// before it started). Throws Error(Config) when none matches, Error(Command) when its file
// does not match its sha256 (nothing changed). `check_file` false: the file is not read here
// (a swap restore hashes it while decompressing, before anything changes: one read, not two).
steps::BackupMeta choose_backup(const config::Environment& env, steps::Transports& transports, db::Connection& db,
                                report::Reporter& rep, const std::string& wanted, bool check_file = true);

// Reads the plan on `db` (no lock taken, nothing written).
RollbackPlan plan_restore(db::Connection& db, const steps::BackupMeta& backup, bool alembic);
RollbackPlan plan_down(db::Connection& db, const std::string& to, bool alembic);

// Reporter lines for a human (before the confirmation, and for --dry-run).
void show_plan(const RollbackPlan& plan, report::Reporter& rep);
nlohmann::json plan_json(const RollbackPlan& plan);

// Why a rollback with this plan is refused on `env` ("" when it may proceed): a newer backup
// on a protected environment without --allow-newer-backup.
std::string plan_refusal(const RollbackPlan& plan, const config::Environment& env, bool allow_newer_backup);

// Chooses the backup (`--backup`), reads and shows the plan (and puts it in `doc`). True when
// a --dry-run ends here (the lock free: it could run). Throws Error(Refused) when the rollback
// would be refused, other Errors as choose_backup and the connection do.
bool present_plan(const config::Environment& env, steps::Transports& transports, const RollbackOptions& opts,
                  bool alembic, report::Reporter& rep, RollbackDocument* doc, std::optional<steps::BackupMeta>& chosen);

// The exit code of an error while planning: 64 configuration, 3 refused (and, for a dry run, a
// backup that cannot be restored), 1 otherwise (nothing was changed).
int plan_exit_code(const Error& e, bool dry_run);

}  // namespace ferry::run
