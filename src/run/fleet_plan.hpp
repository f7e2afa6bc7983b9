// A fleet stage's schedule: the canary, the waves after it, the failure budget, and the exit
// code the results add up to.
#pragma once
#include <cstddef>
#include <vector>

#include "config/model.hpp"
#include "run/fleet_record.hpp"

namespace ferry::run {

// The sizes a fleet run is scheduled by, as counts of databases.
struct FleetSizes {
  int canary = 0;  // run first, alone
  int batch = 0;   // a wave after the canary; 0 = all the rest at once
  int budget = 0;  // failures tolerated; one more spends it
};

// The sizes of a first run over `n` databases. P% shares are of n: canary and batch rounded up
// (a batch at least 1), max_failures rounded down; a count larger than n is n.
FleetSizes fleet_sizes(const config::FleetSpec& spec, int n);

// What a resumed run keeps of its first run: the same canary and batch counts, and the same
// budget, of which `spent` (failures counted by the earlier invocations) is already used. Never a
// fresh budget: the whole run, resumes included, tolerates no more failures than the first allowed.
FleetSizes resumed_sizes(const FleetSizes& first, int spent);

// The sizes of this invocation over `todo` databases. A new run: fleet_sizes(spec, todo), kept in
// `record` (canary, batch, budget). A resume (`resume`): resumed_sizes of what `record` kept, with
// its `failures` spent (an older record without sizes: fleet_sizes of all its databases).
FleetSizes invocation_sizes(const config::FleetSpec& spec, FleetRecord& record, int todo, bool resume);

struct FleetPlan {
  std::vector<std::vector<std::size_t>> phases;  // the canary (when any) first, then the waves
  bool has_canary = false;
  int budget = 0;  // failures tolerated; one more spends it
  int parallel = 1;
};

// `todo` (indices of the databases to run, in order) into phases by `sizes` (a canary larger
// than todo takes all of it).
FleetPlan plan_fleet(const FleetSizes& sizes, int parallel, const std::vector<std::size_t>& todo);
// The same with fleet_sizes(spec, todo.size()).
FleetPlan plan_fleet(const config::FleetSpec& spec, const std::vector<std::size_t>& todo);

// The stage's exit code from the databases it ran (`ran`: indices into record.members):
// 2 when any needs a human; 0 when all are ok; 3 when every failure was refused and none of
// them changed anything (nothing ok, nothing rolled back); else 1 (every failure rolled back
// and proven, or refused, or not started after a stop).
int fleet_exit_code(const FleetRecord& record, const std::vector<std::size_t>& ran);

}  // namespace ferry::run
