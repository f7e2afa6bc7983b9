#include "config/fleet_reader.hpp"

#include <cctype>

namespace ferry::config {

namespace {

// K (a count) or P% (a percentage of the fleet, 0-100).
Share read_share(const Reader& r, const YAML::Node& map, const std::string& key, int min_count) {
  const YAML::Node n = map[key];
  std::string text = n.IsScalar() ? n.Scalar() : "";
  bool percent = !text.empty() && text.back() == '%';
  std::string digits = percent ? text.substr(0, text.size() - 1) : text;
  bool ok = !digits.empty() && digits.size() <= 7;
  for (char c : digits) ok &= std::isdigit(static_cast<unsigned char>(c)) != 0;
  int value = ok ? std::stoi(digits) : -1;
  if (!ok || value < min_count || (percent && value > 100))
    r.fail(n, "'" + key + "' must be a count (at least " + std::to_string(min_count) +
                  ") or a percentage like 10%, found " + Reader::describe(n));
  return Share{value, percent};
}

}  // namespace

FleetSpec read_fleet(const Reader& r, const YAML::Node& node) {
  r.expect_map(node, "fleet", {"parallel", "canary", "batch", "max_failures", "on_budget_spent"});
  FleetSpec f;
  f.parallel = r.int_or(node, "parallel", 1, 1, 256);
  if (node["canary"]) f.canary = read_share(r, node, "canary", 0);
  if (node["batch"]) f.batch = read_share(r, node, "batch", 1);
  if (node["max_failures"]) f.max_failures = read_share(r, node, "max_failures", 0);
  f.revert = r.one_of(node, "on_budget_spent", "stop", {"stop", "revert"}) == "revert";
  return f;
}

}  // namespace ferry::config
