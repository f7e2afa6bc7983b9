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
#include "migrate/alembic.hpp"
#include "migrate/migration_set.hpp"
#include "report/reporter.hpp"
#include "transport/ssh.hpp"
#include "transport/transport.hpp"

namespace ferry::steps {

// The state a rollback must prove it returned to.
struct Baseline {
  std::string fingerprint;
  std::string description;  // what the fingerprint hashes, to say what differs
  std::map<std::string, long long> row_counts;
  std::string version;
  std::map<std::string, db::SequencePosition> sequences;  // compared apart: they may move forward
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
  std::string run_id;
  bool verified = false;
  bool pinned = false;     // ID.pin beside the sidecar: never pruned (not in the sidecar)
  std::string pin_reason;  // ID.pin's text: "pre-change backup of run R" for an automatic pin
};

// Connections by name, created on first use and kept for the whole run.
class Transports {
 public:
  explicit Transports(const config::Environment& env) : m_env(env) {}
  transport::Transport& get(const std::string& name);
  // The one SSH session of an ssh connection (opened on first use, kept for the run).
  std::shared_ptr<transport::SshSession> ssh_session(const std::string& name);
  const config::Environment& env() const { return m_env; }

 private:
  const config::Environment& m_env;
  std::map<std::string, std::unique_ptr<transport::Transport>> m_made;
  std::map<std::string, std::shared_ptr<transport::SshSession>> m_sessions;
};

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
        files(std::move(files_)) {}

  const config::Project& project;
  const config::Playbook& playbook;
  const config::Environment& env;
  db::Connection& db;
  db::Ledger& ledger;
  report::Reporter& reporter;
  Transports& transports;
  std::string run_id;
  std::string state_dir;

  std::vector<migrate::Migration> files;
  migrate::Plan plan;
  Baseline baseline;  // taken after the lock, before any step

  std::vector<db::AppliedMigration> applied_this_run;  // committed by this run, oldest first

  // driver: alembic
  std::vector<migrate::AlembicRevision> alembic_chain;
  std::vector<migrate::AlembicRevision> alembic_todo;  // pending at the start of the stage
  bool alembic_changed = false;                        // `upgrade head` was started
  std::optional<BackupMeta> backup;                    // this run's verified backup
};

// The environment's current version: the newest native migration, or the alembic revision.
std::string current_version(StageContext& ctx);
bool is_alembic(const StageContext& ctx);

}  // namespace ferry::steps
