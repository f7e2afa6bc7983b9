// A migration driver: how an environment's schema version is read, moved forward and back.
// Two implementations, native SQL (driver_native.cpp) and Alembic (driver_alembic.cpp); one
// factory (make_driver) chooses from the playbook's `migrations:`. The runner, plan, status,
// history and rollback talk to this interface only.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/model.hpp"
#include "db/ledger.hpp"
#include "db/pg.hpp"
#include "migrate/migration_set.hpp"
#include "transport/registry.hpp"

namespace ferry::steps {

struct StageContext;
using Transports = transport::Transports;

// One migration or revision a stage would apply.
struct PendingItem {
  std::string version;  // "0003" | "c3"
  std::string name;     // "add_priority" | the revision's message
  std::string file;     // where it is written ("migrations/0003_add_priority"); "" when unknown
  std::string label;    // how users name it ("0003_add_priority" | "c3")
  bool no_transaction = false;
  bool irreversible = false;
};

// What a driver reads of an environment before a stage: typed, messages made at the edge.
struct DriverState {
  std::string current;  // "" = no version
  size_t applied = 0;   // how many are applied
  std::vector<PendingItem> pending;
  std::vector<std::string> drift;                 // one line each
  std::vector<std::string> interrupted;           // migrations cut off between statements and ledger row
  std::vector<migrate::Migration> pending_files;  // native: the pending files (lint, data loss)
};

// Why a required environment does not open the gate for one pending item.
enum class GapKind { NotApplied, OtherChecksum, UnfinishedRun, NoSucceededRun, CannotCheck };
struct GateGap {
  std::string env;  // the required environment
  GapKind kind = GapKind::NotApplied;
  std::string message;  // "dev: 0002_x is not applied"
};

enum class RollbackMethod { DownSql, DownSqlDataLoss, Downgrade, Restore, None };
struct RollbackChoice {
  RollbackMethod method = RollbackMethod::None;
  std::string reason;
};
// "down SQL" | "down SQL (data loss!)" | "alembic downgrade" | "restore backup" | "none"
std::string method_name(RollbackMethod m);
// "down_sql" | "down_sql_data_loss" | "downgrade" | "restore" | "none" (for JSON)
std::string method_id(RollbackMethod m);

class Driver {
 public:
  virtual ~Driver() = default;
  // Current version, pending, drift, interrupted. Throws Error(Refused) when the database is at
  // a version the driver's history does not know, Error(Command) when the history is unreadable.
  virtual DriverState read(db::Connection& db, db::Ledger& ledger) = 0;
  virtual std::string current_version(db::Connection& db, db::Ledger& ledger) = 0;
  // The step line that announces read() ("" when nothing worth a line), and its summary.
  virtual std::string read_label() const = 0;
  virtual std::string describe(const DriverState& s) const = 0;
  // Gate facts: what the required environment `req` (connected as `req_db`) lacks of
  // `s.pending`. Empty = open there.
  virtual std::vector<GateGap> gate(const std::string& req, db::Connection& req_db, const DriverState& s) = 0;
  // Data-loss facts: how a failed stage would be undone, for the pending items (plan) ...
  virtual RollbackChoice rollback_for_plan(const config::Playbook& pb, const DriverState& s) const = 0;
  // ... and for what this run actually applied (run).
  virtual RollbackChoice rollback_for_run(const config::Playbook& pb, const StageContext& ctx) const = 0;

  // The migrate step: applies what read() found pending. Returns the summary.
  virtual std::string apply(StageContext& ctx, const config::StepSpec& spec) = 0;
  // True when this run's apply may have changed the database.
  virtual bool changed(const StageContext& ctx) const = 0;
  // Undoes this run's apply (down SQL / downgrade to the version before the run). Returns the
  // summary ("" when there was nothing to undo); throws when it failed, naming what remains.
  virtual std::string revert_run(StageContext& ctx) = 0;
  // After a reconnect: re-reads what this run committed (a transaction the server lost is not in it).
  virtual void after_reconnect(StageContext& ctx) = 0;

  // `ferry rollback --to VERSION`: `changed` when it may have changed something. Summary.
  virtual std::string revert_to(StageContext& ctx, const std::string& to, bool& changed) = 0;
  // Whether a backup taken at `backup_version` is the state `rollback --to` aimed at.
  virtual bool is_version(const std::string& backup_version, const std::string& to) const = 0;
  // "version" | "alembic revision": how messages name a version.
  virtual std::string version_noun() const = 0;
};

// The driver `src` names. `files` are the native migrations on disk (ignored by Alembic).
std::unique_ptr<Driver> make_driver(const config::MigrationsSource& src, Transports& transports,
                                    std::vector<migrate::Migration> files);

// The migrations source ferry uses for `env` outside a playbook (status, rollback): the first
// playbook staging `env` with a non-native driver, else the first native playbook's, else the
// default (migrations/).
config::MigrationsSource source_for(const config::Project& project, const std::string& env);

}  // namespace ferry::steps
