// `ferry status --env FLEET` on a fleet environment: each member read as `status` reads one
// database (read_status), one connection at a time, then summed up: a histogram of versions, and
// the members with drift, locked (by whom), behind (pending migrations) or unreachable.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "cli/commands.hpp"
#include "config/model.hpp"

namespace ferry::cli {

// {schema_version: 1, environment, databases (count), versions: {version: count}, drift: [name],
// locked: [{name, holder}], behind: [name], unreachable: [name], members: [{name, reachable,
// error?, version, applied, pending: [id], drift: [message], interrupted: [message], lock:
// {pid, run_id, operator, host, started} or null}]}. A member that cannot be read is listed
// unreachable (its error redacted); discovery that fails throws.
nlohmann::json fleet_status(const config::Project& project, const config::Environment& fleet);

// `ferry status` without --env: the fleet as one element of status's array: {schema_version,
// environment, fleet: true, host, port, protected, reachable} and fleet_status's keys (reachable
// false with `error` when its members cannot be listed). Sets `code` to 1 when a member or the
// fleet is unreachable.
nlohmann::json fleet_status_element(const config::Project& project, const config::Environment& fleet, int& code);
// That element in one line: "NAME  fleet of N databases on HOST:PORT  versions V: n, ...; behind
// n, drift n, locked n, unreachable n".
void print_fleet_line(const Globals& g, const nlohmann::json& e);
// status --check's view of that element: drift, behind and unreachable (any member).
void fleet_check_facts(const nlohmann::json& e, bool& drift, bool& pending, bool& unreachable);

// Prints `doc` (text or --json); returns the exit code: with `check` as `status --check`
// (3 drift, 2 pending, 1 unreachable, 0), else 1 when a member is unreachable.
int print_fleet_status(const Globals& g, const nlohmann::json& doc, bool as_json, bool check);

}  // namespace ferry::cli
