#include "run/fleet_plan.hpp"

#include <algorithm>

#include "config/fleet.hpp"
#include "core/error.hpp"

namespace ferry::run {

FleetSizes fleet_sizes(const config::FleetSpec& spec, int n) {
  FleetSizes s;
  s.budget = config::share_of(spec.max_failures, n, false);
  s.canary = config::share_of(spec.canary, n, true);
  s.batch = spec.batch ? std::max(1, config::share_of(*spec.batch, n, true)) : 0;
  return s;
}

FleetSizes resumed_sizes(const FleetSizes& first, int spent) {
  FleetSizes s = first;
  s.budget = std::max(0, first.budget - std::max(0, spent));
  return s;
}

FleetSizes invocation_sizes(const config::FleetSpec& spec, FleetRecord& record, int todo, bool resume) {
  if (!resume) {
    FleetSizes s = fleet_sizes(spec, todo);
    record.canary = s.canary;
    record.batch = s.batch;
    record.budget = s.budget;
    return s;
  }
  FleetSizes first{record.canary, record.batch, record.budget};
  if (record.canary < 0 || record.batch < 0) first = fleet_sizes(spec, static_cast<int>(record.members.size()));
  return resumed_sizes(first, record.failures);
}

FleetPlan plan_fleet(const FleetSizes& sizes, int parallel, const std::vector<std::size_t>& todo) {
  FleetPlan plan;
  int n = static_cast<int>(todo.size());
  plan.parallel = parallel;
  plan.budget = sizes.budget;
  int canary = std::clamp(sizes.canary, 0, n);
  if (canary > 0) {
    plan.phases.emplace_back(todo.begin(), todo.begin() + canary);
    plan.has_canary = true;
  }
  int batch = sizes.batch > 0 ? sizes.batch : std::max(1, n);
  for (int at = canary; at < n; at += batch) {
    int end = std::min(n, at + batch);
    plan.phases.emplace_back(todo.begin() + at, todo.begin() + end);
  }
  return plan;
}

FleetPlan plan_fleet(const config::FleetSpec& spec, const std::vector<std::size_t>& todo) {
  return plan_fleet(fleet_sizes(spec, static_cast<int>(todo.size())), spec.parallel, todo);
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
