// One step of a playbook. run() does the work and returns a one-line summary, or throws after
// cleaning up what it can (it may have committed part of its work: it is undone too). undo()
// compensates it after a later failure (run/saga.* decides the order: newest first).
#pragma once
#include <memory>
#include <string>

#include "config/model.hpp"
#include "steps/context.hpp"

namespace ferry::steps {

class Step {
 public:
  explicit Step(const config::StepSpec& spec) : m_spec(spec) {}
  virtual ~Step() = default;
  const config::StepSpec& spec() const { return m_spec; }
  std::string name() const { return m_spec.label(); }
  virtual std::string run(StageContext& ctx) = 0;
  // Undoes what run() did; returns a summary, "" when there was nothing to undo (backup,
  // verify, health, run). Throws when it could not. Repeatable: after a restore the runner
  // undoes again (a restart restarts again, a migrate finds the database as before).
  virtual std::string undo(StageContext&) { return ""; }
  // True when the undo must come after every other step's (a restart reloads what they left).
  virtual bool undo_last() const { return false; }
  // True when this step changes the database (the Runner proves what it undid).
  virtual bool changes_database() const { return false; }

 protected:
  const config::StepSpec& m_spec;
};

std::unique_ptr<Step> make_step(const config::StepSpec& spec);

// The ledger row of `m` applied (or baselined) by run `run_id`: checksum, down SQL, data-loss facts.
db::AppliedMigration record_for(const migrate::Migration& m, const std::string& run_id);
// Applies plan.pending (the native driver's migrate step). Returns the summary.
std::string apply_migrations(StageContext& ctx, const config::StepSpec& spec, const migrate::Plan& plan);
// Reverts ctx.applied_this_run newest first with their stored down SQL, each in a
// transaction with its history row. Throws at the first failure, naming what remains.
std::string revert_migrations(StageContext& ctx);
// Runs the statements of `sql` one by one; a statement that returns one boolean must return
// true. Throws Error(Verify) naming the file and line.
void run_checks(db::Connection& db, const std::string& sql, const std::string& file);
// Stops (Error(Database)) when the run's lock is no longer ours: another ferry may be at work.
void guard_lock(db::Ledger& ledger);

}  // namespace ferry::steps
