// The databases of a fleet environment (config/fleet.hpp): written (`names`, `names_file`) or
// discovered (`discover`: the query run on the server when a command acts on it).
#pragma once
#include <string>
#include <vector>

#include "config/model.hpp"
#include "transport/registry.hpp"

namespace ferry::run {

// Set by a fleet's parent in a child's environment: the member NAME its `--database` names was
// listed by the parent, so the child does not run `discover` again.
inline constexpr const char* k_listed_member_env = "FERRY_FLEET_MEMBER";

// The members in the order listed (discover: the query's order). Throws Error(Config) for a
// name PostgreSQL or ferry cannot take, Error(Refused) when discovery finds none. Discovery
// connects through `transports` (a tunnel's session) when given.
std::vector<std::string> fleet_members(const config::Environment& env, transport::Transports* transports = nullptr);

// `--database NAME`: the environment of that one member (config::member_environment). Throws
// Error(Config) when NAME is not a member (on a fleet) or not the database (on a single one).
// A discovered fleet is not queried again when k_listed_member_env is NAME.
config::Environment select_member(const config::Environment& env, const std::string& name);

}  // namespace ferry::run
