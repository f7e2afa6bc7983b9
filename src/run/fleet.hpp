// A stage whose environment is a fleet (config/fleet.hpp): its databases selected (--only,
// --exclude, --shard, or what --resume left), run as child `ferry run ... --database NAME`
// processes by `parallel` worker threads: the canary first, then the waves, stopping (and with
// on_budget_spent: revert, reverting) once the failure budget is spent. The record
// (.ferry/fleets/RUN_ID.json) is rewritten as each result comes in.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "config/model.hpp"
#include "report/reporter.hpp"
#include "run/runner.hpp"

namespace ferry::run {

struct FleetStageResult {
  int exit_code = 0;
  std::string outcome;  // succeeded | rolled back | needs attention | refused
  std::string error;
  nlohmann::json record;  // the fleet run record (fleet_record.hpp), for --json and --report
};

FleetStageResult run_fleet_stage(const config::Project& project, const config::Playbook& pb,
                                 const config::Environment& env, report::Reporter& rep, const RunOptions& opts,
                                 const std::string& run_id);

// --resume RUN_ID: the stage (environment) the record continues; refuses another playbook's
// record or an --env naming another stage. Throws Error(Config).
std::string resume_stage(const RunOptions& opts, const config::Playbook& pb);

}  // namespace ferry::run
