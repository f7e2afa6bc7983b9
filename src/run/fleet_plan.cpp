#include "run/fleet_plan.hpp"

#include <algorithm>

#include "config/fleet.hpp"
#include "core/error.hpp"

namespace ferry::run {

FleetPlan plan_fleet(const config::FleetSpec& spec, const std::vector<std::size_t>& todo) {
  FleetPlan plan;
  int n = static_cast<int>(todo.size());
  plan.parallel = spec.parallel;
  plan.budget = config::share_of(spec.max_failures, n, false);
  int canary = config::share_of(spec.canary, n, true);
  if (canary > 0) {
    plan.phases.emplace_back(todo.begin(), todo.begin() + canary);
    plan.has_canary = true;
  }
  int batch = spec.batch ? std::max(1, config::share_of(*spec.batch, n, true)) : n;
  for (int at = canary; at < n; at += batch) {
    int end = std::min(n, at + batch);
    plan.phases.emplace_back(todo.begin() + at, todo.begin() + end);
  }
  return plan;
}

int fleet_exit_code(const FleetRecord& record, const std::vector<std::size_t>& ran) {
  bool human = false, changed = false, failed = false;
  for (auto i : ran) {
    const auto& o = record.members[i].outcome;
    human |= o == "needs_human";
    changed |= o == "ok" || o == "rolled_back";
    failed |= o != "ok";
  }
  if (human) return exit_code::k_failed_dirty;
  if (!failed) return exit_code::k_ok;
  if (!changed) {
    bool refused = std::any_of(ran.begin(), ran.end(), [&](auto i) { return record.members[i].outcome == "refused"; });
    if (refused) return exit_code::k_refused;
  }
  return exit_code::k_failed_clean;
}

}  // namespace ferry::run
