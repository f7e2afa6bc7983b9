#include "cli/fleet_options.hpp"

#include "core/error.hpp"
#include "run/fleet_members.hpp"

namespace ferry::cli {

void add_fleet_options(CLI::App* run, CLI::App* plan, const std::vector<CLI::App*>& subs, FleetOptions& o) {
  for (auto* sub : subs)
    sub->add_option("--database", o.database,
                    "only this database of a fleet environment (with --env on run, plan, status)");
  run->add_option("--resume", o.resume, "continue fleet run RUN_ID: databases that succeeded are skipped");
  for (auto* sub : {run, plan}) {
    sub->add_option("--only", o.only, "only these databases of the fleet (NAME,NAME,...)");
    sub->add_option("--exclude", o.exclude, "leave these databases of the fleet out (NAME,NAME,...)");
    sub->add_option("--shard", o.shard, "I/N: this share of the fleet (FNV-1a of the name mod N == I)");
  }
  run->add_flag("--json", o.json, "the per-database results as one JSON document on stdout");
}

std::vector<std::string> split_names(const std::string& list) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= list.size() && !list.empty()) {
    size_t comma = list.find(',', start);
    std::string item = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!item.empty()) out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

void select_database(config::Project& project, const std::string& env, const std::optional<std::string>& database,
                     bool needs_one) {
  auto it = project.environments.find(env);
  if (it == project.environments.end()) return;  // project.environment() names the mistake later
  if (database) {
    it->second = run::select_member(it->second, *database);
    return;
  }
  if (needs_one && it->second.database.fleet())
    throw Error(ErrorKind::Config, "environment '" + env + "' is a fleet of databases: name one with --database NAME");
}

}  // namespace ferry::cli
