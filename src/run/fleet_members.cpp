#include "run/fleet_members.hpp"

#include <algorithm>
#include <cstdlib>
#include <set>

#include "config/fleet.hpp"
#include "core/error.hpp"
#include "core/text.hpp"
#include "run/target.hpp"

namespace ferry::run {

namespace {

// `discover`'s query on the environment's server: connected to `name`, else `postgres`.
std::vector<std::string> discover(const config::Environment& env, transport::Transports* transports) {
  config::Environment at = env;
  at.database.names.clear();
  at.database.names_file.clear();
  at.database.discover.clear();
  if (at.database.name.empty()) at.database.name = "postgres";
  auto link = connect(at, transports);
  auto res = link.conn->exec(env.database.discover);
  if (res.cols() != 1)
    throw Error(ErrorKind::Config, "database.discover of '" + env.name + "' must return one column, it returned " +
                                       std::to_string(res.cols()));
  std::vector<std::string> names;
  std::set<std::string> seen;
  for (int i = 0; i < res.rows(); ++i) {
    if (res.is_null(i, 0)) continue;
    std::string name = res.text(i, 0);
    if (auto problem = config::member_name_problem(name); !problem.empty())
      throw Error(ErrorKind::Config, "database.discover of '" + env.name + "': " + problem);
    if (seen.insert(name).second) names.push_back(name);
  }
  if (names.empty())
    throw Error(ErrorKind::Refused, "database.discover of '" + env.name + "' found no database",
                "check the query with psql on " + env.database.host + ":" + std::to_string(env.database.port));
  return names;
}

}  // namespace

std::vector<std::string> fleet_members(const config::Environment& env, transport::Transports* transports) {
  if (!env.database.discover.empty()) return discover(env, transports);
  return env.database.names;
}

config::Environment select_member(const config::Environment& env, const std::string& name) {
  if (auto problem = config::member_name_problem(name); !problem.empty())
    throw Error(ErrorKind::Config, "--database: " + problem);
  if (!env.database.fleet()) {
    if (name == env.database.name) return env;
    throw Error(ErrorKind::Config, "--database '" + name + "': environment '" + env.name +
                                       "' is the single database '" + env.database.name + "', not a fleet");
  }
  const char* listed = std::getenv(k_listed_member_env);
  if (listed && name == listed && !env.database.discover.empty()) return config::member_environment(env, name);
  auto members = fleet_members(env);
  if (std::find(members.begin(), members.end(), name) == members.end()) {
    std::string hint = closest(name, members);
    throw Error(ErrorKind::Config, "--database '" + name + "' is not a database of the fleet '" + env.name + "'" +
                                       (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
  }
  return config::member_environment(env, name);
}

}  // namespace ferry::run
