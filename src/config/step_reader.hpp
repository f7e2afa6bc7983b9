// Reads one item of a playbook's `steps:` list. Private to src/config.
#pragma once
#include "config/model.hpp"
#include "config/reader.hpp"

namespace ferry::config {

StepSpec read_step(const Reader& r, const YAML::Node& item);

// The playbook's `on_failure:` (rollback | stop, or a list of hooks; with a list the stage
// rolls back) and `finally:` (a list of hooks). A hook is a `run` step whose `on` must name a
// connection of every stage's environment.
void read_hooks(const Reader& r, const YAML::Node& doc, const Project& project, Playbook& pb);

}  // namespace ferry::config
