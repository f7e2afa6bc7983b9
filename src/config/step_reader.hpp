// Reads one item of a playbook's `steps:` list. Private to src/config.
#pragma once
#include "config/model.hpp"
#include "config/reader.hpp"

namespace ferry::config {

StepSpec read_step(const Reader& r, const YAML::Node& item);

}  // namespace ferry::config
