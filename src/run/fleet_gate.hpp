// The promotion gate (SPEC section 7) when a required environment is a fleet: every one of its
// databases must hold what the stage would apply, each read live as a single required database
// is; the gaps are summed per item ("0002_x is not applied on 3 of 30 databases: a, b, c").
#pragma once
#include <string>
#include <vector>

#include "config/model.hpp"
#include "steps/driver.hpp"

namespace ferry::run {

// Set by the fleet parent for its children: a file in the run's own directory where the members
// of one run keep the gate's open answers (fleet_gate below).
inline constexpr const char* k_gate_cache_env = "FERRY_FLEET_GATE_CACHE";

// What the fleet `req` lacks of `state.pending`, read member by member (one connection at a
// time). A member that cannot be read is a gap (CannotCheck): the gate never opens on a guess.
std::vector<steps::GateGap> fleet_gate(const config::Environment& req, steps::Driver& driver,
                                       const steps::DriverState& state);

}  // namespace ferry::run
