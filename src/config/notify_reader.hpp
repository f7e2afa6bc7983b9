// `notify:` (a list of webhooks) in an environment or a playbook.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "config/model.hpp"
#include "config/reader.hpp"

namespace ferry::config {

// An absent or null node is no webhook.
std::vector<Webhook> read_notify(const Reader& r, const YAML::Node& n);
// `headers:` (name -> one-line value; ${secret:VAR} values are redacted): webhooks, health probes.
std::map<std::string, std::string> read_headers(const Reader& r, const YAML::Node& h);

}  // namespace ferry::config
