// A playbook's `fleet:` block. Private to src/config.
#pragma once
#include "config/model.hpp"
#include "config/reader.hpp"

namespace ferry::config {

// parallel: N, canary / batch / max_failures: K | P%, on_budget_spent: stop | revert.
FleetSpec read_fleet(const Reader& r, const YAML::Node& node);

}  // namespace ferry::config
