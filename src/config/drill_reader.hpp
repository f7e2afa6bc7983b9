// `backup.drill:` in an environment: the server restore drills run on.
#pragma once
#include <optional>

#include "config/model.hpp"
#include "config/reader.hpp"

namespace ferry::config {

// An absent or null node is no drill server (drills use the environment's own). password_file
// is read only when `resolve` (the command acts on this environment).
std::optional<DrillSpec> read_drill(const Reader& r, const YAML::Node& n, const std::string& root, Secrets& secrets,
                                    bool resolve);

}  // namespace ferry::config
