// What a step sees of its stage: the environment, the database session holding the run's
// lock, the reporter, and the state earlier steps left for later ones and for compensation.
#pragma once
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/model.hpp"
#include "db/introspect.hpp"
#include "db/ledger.hpp"
#include "db/pg.hpp"
#include "migrate/migration_set.hpp"
#include "report/reporter.hpp"
#include "steps/driver.hpp"
#include "transport/registry.hpp"
#include "transport/transport.hpp"

namespace ferry::steps {

// The state a rollback must prove it returned to.
struct Baseline {
  // Left to the backup's snapshot (steps/baseline.hpp): read there, in the same snapshot as the
  // sidecar, instead of once more before it (a second pass over every table).
  bool in_backup = false;
  std::string fingerprint;
  std::string description;  // what the fingerprint hashes, to say what differs
  std::map<std::string, long long> row_counts;
  std::string version;
  std::map<std::string, db::SequencePosition> sequences;  // compared apart: they may move forward
};

// pg_stat_user_tables' cumulative write counters of one table (rows inserted, updated, deleted).
struct TableWrites {
  long long ins = 0, upd = 0, del = 0;
};

// A verified backup as its sidecar ID.json describes it.
struct BackupMeta {
  std::string id;
  std::string environment;
  std::string time;
  std::string file;         // full path on backup.on
  std::string format;       // custom | directory
  std::string compression;  // zstd | pg_dump
  long long size = 0;
  std::string sha256;
  std::string version;
  std::string fingerprint;
  std::map<std::string, long long> row_counts;
  std::vector<db::AppliedMigration> ledger;  // ferry.migrations at backup time
  // ALTER DATABASE/ROLE ... SET at backup time (not in a pg_dump without --create); a restore
  // sets them back. nullopt: a sidecar written before ferry recorded them (left alone).
  std::optional<std::vector<db::DatabaseSetting>> database_settings;
  // The write counters per table ("schema.table") when the backup was taken, to estimate what a
  // restore discards. nullopt: a sidecar written before ferry recorded them.
  std::optional<std::map<std::string, TableWrites>> write_counters;
  std::string run_id;
  bool verified = false;
  bool pinned = false;     // ID.pin beside the sidecar: never pruned (not in the sidecar)
  std::string pin_reason;  // ID.pin's text: "pre-change backup of run R" for an automatic pin
};

// Connections by name (transport/registry.hpp); the name steps and run/ have always used.
using Transports = transport::Transports;

struct StageContext {
  StageContext(const config::Project& project_, const config::Playbook& playbook_, const config::Environment& env_,
               db::Connection& db_, db::Ledger& ledger_, report::Reporter& reporter_, Transports& transports_,
               std::string run_id_, std::string state_dir_, std::vector<migrate::Migration> files_ = {})
      : project(project_),
        playbook(playbook_),
        env(env_),
        db(db_),
        ledger(ledger_),
        reporter(reporter_),
        transports(transports_),
        run_id(std::move(run_id_)),
        state_dir(std::move(state_dir_)),
        driver(make_driver(playbook_.migrations, transports_, std::move(files_))) {}

  const config::Project& project;
  const config::Playbook& playbook;
  const config::Environment& env;
  db::Connection& db;
  db::Ledger& ledger;
  report::Reporter& reporter;
  Transports& transports;
  std::string run_id;
  std::string state_dir;

  std::unique_ptr<Driver> driver;  // the playbook's migration driver (native or Alembic)
  DriverState state;               // what the driver read before the first step
  Baseline baseline;               // taken after the lock, before any step

  std::vector<db::AppliedMigration> applied_this_run;  // native: committed by this run, oldest first
  std::optional<BackupMeta> backup;                    // this run's verified backup
  // services.NAME.version's output, read before the first step: FERRY_PREVIOUS_VERSION for
  // services.NAME.rollback when the restart is undone.
  std::map<std::string, std::string> code_versions;

  // Undoing: the database is as before the run (restored from the backup, or the server rolled
  // back this run's only transaction): later undos leave it alone.
  bool database_as_before = false;
  bool restored = false;     // this run's backup was restored
  bool reconnected = false;  // the session was lost and opened again during this stage
};

// The environment's current version, as the driver reads it.
std::string current_version(StageContext& ctx);

}  // namespace ferry::steps
