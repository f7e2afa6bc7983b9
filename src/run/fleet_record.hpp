// The record of a fleet run: .ferry/fleets/RUN_ID.json, rewritten atomically (a temporary and a
// rename) as each database's result comes in, so --resume works after SIGTERM or SIGKILL.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace ferry::run {

// outcome: ok | rolled_back | needs_human | refused | skipped | not_started
struct MemberResult {
  std::string name;
  std::string outcome = "not_started";
  int exit_code = -1;  // the member run's exit code; -1 when it did not run
  std::string run_id;  // the member run's id (its journal, ferry.runs row, before-run: backup)
  long long duration_ms = 0;
  std::string message;
};

struct FleetRecord {
  std::string run_id;
  std::string playbook;
  std::string environment;
  std::string shard;  // "" = not sharded
  std::string started;
  std::string finished;  // "" while running
  int exit_code = -1;
  int resumes = 0;
  int budget = 0;    // failures tolerated by the whole run, resumes included (its first invocation's)
  int canary = -1;   // the first invocation's canary count; -1: not recorded (an older record)
  int batch = -1;    // its wave size (0: all at once); -1: not recorded
  int failures = 0;  // failures counted against the budget so far, by every invocation
  std::vector<MemberResult> members;
};

nlohmann::json to_json(const FleetRecord& r);
std::string record_path(const std::string& state_dir, const std::string& run_id);
void write_record(const std::string& state_dir, const FleetRecord& r);
// Throws Error(Config) when RUN_ID is not an id, or names no readable record.
FleetRecord read_record(const std::string& state_dir, const std::string& run_id);

}  // namespace ferry::run
