// The FERRY_* variables every `run` step and every hook (on_failure:, finally:) sees in its
// environment: one place, so steps and hooks cannot drift apart.
#pragma once
#include <map>
#include <string>

namespace ferry::steps {

struct FerryVars {
  std::string run_id;
  std::string playbook;
  std::string env;
  std::string outcome;  // succeeded|rolled_back|failed|needs_attention|refused; "" during the stage
  std::string backup_id;
  std::string backup_file;
};

inline void add_ferry_env(std::map<std::string, std::string>& env, const FerryVars& v) {
  env["FERRY_RUN_ID"] = v.run_id;
  env["FERRY_PLAYBOOK"] = v.playbook;
  env["FERRY_ENV"] = v.env;
  env["FERRY_STAGE_OUTCOME"] = v.outcome;
  env["FERRY_BACKUP_ID"] = v.backup_id;
  env["FERRY_BACKUP_FILE"] = v.backup_file;
}

}  // namespace ferry::steps
