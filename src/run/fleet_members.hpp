// The databases of a fleet environment (config/fleet.hpp): written (`names`, `names_file`) or
// discovered (`discover`: the query run on the server when a command acts on it).
#pragma once
#include <string>
#include <vector>

#include "config/model.hpp"

namespace ferry::run {

// The members in the order listed (discover: the query's order). Throws Error(Config) for a
// name PostgreSQL or ferry cannot take, Error(Refused) when discovery finds none.
std::vector<std::string> fleet_members(const config::Environment& env);

// `--database NAME`: the environment of that one member (config::member_environment). Throws
// Error(Config) when NAME is not a member (on a fleet) or not the database (on a single one).
config::Environment select_member(const config::Environment& env, const std::string& name);

}  // namespace ferry::run
