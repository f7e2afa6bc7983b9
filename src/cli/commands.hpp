// The read-only and file-making commands (plan, status, history, backups, new).
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "config/model.hpp"
#include "core/error.hpp"

namespace ferry::cli {

struct Globals {
  std::string root = ".";
  std::string state_dir;  // default ROOT/.ferry
  bool color = false;
  bool quiet = false;
  bool verbose = false;
  std::optional<std::string> database;                 // --database: one member of a fleet environment
  std::string fleet_only, fleet_exclude, fleet_shard;  // plan --only, --exclude, --shard (of a fleet)
};

// ANSI colour `code` around `s` when colour is on; "none" for an empty version.
std::string paint(const Globals& g, const char* code, const std::string& s);
std::string or_none(const std::string& v);

// cli/plan_command.cpp
int cmd_plan(const Globals& g, const std::string& playbook, const std::optional<std::string>& env, bool as_json);
// With `check`: exit 3 on drift (or an interrupted migration), 2 on pending, 1 unreachable.
int cmd_status(const Globals& g, const std::optional<std::string>& env, bool json, bool check = false);
// A migration file read_status cannot read (a missing up.sql...): the project's error, exit 64 as
// in `plan` and `run`, never an unreachable environment or fleet member.
struct BadProjectFiles : Error {
  explicit BadProjectFiles(const Error& e) : Error(e) {}
};
// What `status` shows of one reachable database into `e` (version, applied, pending, drift,
// interrupted, lock, lock_holder, last_run, fingerprint (when `with_fingerprint`), alembic_revision);
// throws when it cannot be read. cli/fleet_status.cpp reads each member of a fleet with it, without
// the fingerprint (its view does not show one: most of a member's status time saved).
void read_status(nlohmann::json& e, const config::Project& project, const config::Environment& env,
                 bool with_fingerprint);
int cmd_history(const Globals& g, const std::string& env, bool json, bool locks = false);
int cmd_backups(const Globals& g, const std::string& env, bool json);
int cmd_new(const Globals& g, const std::string& name);

}  // namespace ferry::cli
