// `notify:` (a list of webhooks) in an environment or a playbook.
#pragma once
#include <vector>

#include "config/model.hpp"
#include "config/reader.hpp"

namespace ferry::config {

// An absent or null node is no webhook.
std::vector<Webhook> read_notify(const Reader& r, const YAML::Node& n);

}  // namespace ferry::config
