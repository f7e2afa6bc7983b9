// A fleet stage's schedule: the canary, the waves after it, the failure budget, and the exit
// code the results add up to.
#pragma once
#include <cstddef>
#include <vector>

#include "config/model.hpp"
#include "run/fleet_record.hpp"

namespace ferry::run {

struct FleetPlan {
  std::vector<std::vector<std::size_t>> phases;  // the canary (when any) first, then the waves
  bool has_canary = false;
  int budget = 0;  // failures tolerated; one more spends it
  int parallel = 1;
};

// `todo` (indices of the databases to run, in order) into phases. P% shares are of todo's
// size: canary and batch rounded up (at least 1 when P > 0), max_failures rounded down.
FleetPlan plan_fleet(const config::FleetSpec& spec, const std::vector<std::size_t>& todo);

// The stage's exit code from the databases it ran (`ran`: indices into record.members):
// 2 when any needs a human; 0 when all are ok; 3 when every failure was refused and none of
// them changed anything (nothing ok, nothing rolled back); else 1 (every failure rolled back
// and proven, or refused, or not started after a stop).
int fleet_exit_code(const FleetRecord& record, const std::vector<std::size_t>& ran);

}  // namespace ferry::run
