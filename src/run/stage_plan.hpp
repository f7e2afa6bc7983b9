// One typed planning function for `ferry plan` and `ferry run`: what a stage would do, read
// from its database (pending, drift, interrupted migrations, gate, rollback choice). Messages
// are made from these values at the edge (the runner's refusals, plan's text and JSON).
#pragma once
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "config/model.hpp"
#include "db/ledger.hpp"
#include "steps/driver.hpp"

namespace ferry::run {

enum class RefusalKind { Drift, Interrupted, Gate, Locked };
std::string refusal_id(RefusalKind k);  // "drift" | "interrupted" | "gate" | "locked"

struct Refusal {
  RefusalKind kind = RefusalKind::Drift;
  std::string message;
  std::string hint;
};

struct StagePlan {
  steps::DriverState state;
  bool gate_checked = false;             // the environment requires others
  std::vector<steps::GateGap> gaps;      // empty: the gate is open
  bool gate_opens_with_earlier = false;  // every gap is an item that an earlier stage of this run applies
  // How `ferry plan` says a failure would be undone (driver.rollback_for_plan), filled by the plan
  // command: a run chooses when it undoes (rollback_for_run), from what it applied.
  steps::RollbackChoice rollback;
  std::optional<Refusal> refusal;  // the first reason the stage would be refused
};

// Reads what a stage would do with `driver` (whose read() may throw: Error(Refused) for a
// version its history does not know). `earlier`: stages before this one in the same run (plan
// only: their success would open the gate, so missing items they apply are not a refusal).
StagePlan plan_stage(const config::Project& project, const config::Environment& env, steps::Driver& driver,
                     db::Connection& db, db::Ledger& ledger, const std::set<std::string>& earlier = {});

// The refusal when another session holds the run's lock (plan; the runner waits for it).
Refusal locked_refusal(const std::string& message);

}  // namespace ferry::run
