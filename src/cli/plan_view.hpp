// What `ferry plan` reads of one stage (cli/plan_command.cpp), shared with the plan of a fleet
// stage (cli/fleet_plan_view.cpp), which reads each of its databases the same way.
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "config/model.hpp"
#include "migrate/migration_set.hpp"
#include "run/forecast.hpp"
#include "run/stage_plan.hpp"

namespace ferry::cli {

// What one stage's plan says: read from its database, or why it could not be read.
struct StageView {
  std::string environment;
  std::optional<run::StagePlan> plan;
  std::optional<run::Refusal> refusal;  // the plan's, or the lock's
  std::string lock_holder;              // "" when free
  std::string error;                    // unreadable
  bool unreachable = false;
  std::string lint;  // plan's lint lines (text output only)
  std::string version_noun = "version";
  std::vector<run::MigrationForecast> forecast;  // per pending migration (lock trace, scaled)
};

// Reads one database's plan; `lint` and `forecast` add plan's lint lines and lock forecast.
StageView read_stage(const config::Project& project, const config::Playbook& pb, const config::Environment& env,
                     const std::vector<migrate::Migration>& files, const std::set<std::string>& earlier, bool lint,
                     bool forecast = true);
// How the console names a refusal: "refused (drift)".
std::string verdict(run::RefusalKind k);
// {environment, current_version, pending, refusal, rollback, error, forecast?}
nlohmann::json stage_json(const StageView& v);

// The plan of a fleet stage (every selected database read as one stage is, one connection at a
// time): text into `os`, or one element of `stages` with `as_json`. Sets `failed` when a database
// cannot be read, `refused` when one would be refused.
void plan_fleet_stage(std::ostream& os, nlohmann::json& stages, bool as_json, const Globals& g,
                      const config::Project& project, const config::Playbook& pb, const config::Environment& env,
                      const std::vector<migrate::Migration>& files, const std::set<std::string>& earlier, bool& failed,
                      bool& refused);

}  // namespace ferry::cli
