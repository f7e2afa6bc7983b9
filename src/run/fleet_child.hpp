// One database of a fleet, run as a child `ferry` process: a complete single-database run
// (its own lock, ledger, verified backup, proof and journal), or the revert of one.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "run/fleet_record.hpp"

namespace ferry::run {

struct ChildSpec {
  std::string root;                       // -C
  std::vector<std::string> global_flags;  // --state-dir, --wait-lock, --wait-ready
  std::string playbook;                   // an absolute path
  std::string environment;
  std::string report_dir;                  // where the children's --report files go (removed when read)
  std::string run_id;                      // the fleet run's: each child's sessions are ferry/RUN_ID/DATABASE
  std::map<std::string, std::string> env;  // added to every child's environment (the shared tunnel)
};

// `ferry run PLAYBOOK --env E --database NAME --yes --quiet --report FILE`, with PGAPPNAME
// ferry/RUN_ID/NAME (its own sessions and its pg_dump/psql: a DBA sees whose they are) and
// k_listed_member_env (no discovery again) in its environment; SIGTERM reaches the
// child when `interrupted()` (it rolls back and exits). `index` names its report file.
MemberResult run_member(const ChildSpec& spec, const std::string& name, std::size_t index);

// `ferry rollback E --database NAME --backup before-run:RUN_ID --yes --quiet`: the revert of a
// database this fleet run migrated. `m` is updated: rolled_back when proven, else needs_human.
void revert_member(const ChildSpec& spec, MemberResult& m);

// The member outcome of a ferry exit code: 0 ok, 1 rolled_back, 3 and 64 refused, else needs_human.
std::string outcome_of(int exit_code);

}  // namespace ferry::run
