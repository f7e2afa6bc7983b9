// `ferry plan`'s forecast (issue 9 item 4): per pending migration of a target, the locks its
// statements took where it was traced (an earlier stage of the playbook, read-only) and their
// durations scaled by the target's table sizes against the traced stage's.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/model.hpp"
#include "db/sizes.hpp"
#include "steps/driver.hpp"
#include "steps/lock_trace.hpp"

namespace ferry::run {

// How much bigger the target's table is: rows against rows when both are known (> 0), else bytes
// against bytes; nullopt when neither is known on both sides.
std::optional<double> size_ratio(const steps::TableSize& traced, const db::RelationSize& target);
std::string format_ms(double ms);      // "0.4 ms", "12 ms", "1.3 s", "4.2 min"
std::string format_rows(double rows);  // "950", "10k", "1.2M"

struct StatementForecast {
  std::string file;
  int line = 0;
  std::vector<steps::TracedLock> locks;  // taken (or made stronger) by this statement
  bool rewrite = false;
  double traced_ms = 0;
  std::optional<double> estimated_ms;  // nullopt: no size to scale by
  std::string table;                   // the table the estimate is scaled by
  double traced_rows = -1;
  double target_rows = -1;
};

struct MigrationForecast {
  std::string label;      // "0002_add_col"
  std::string traced_on;  // "" when there is no trace
  std::string no_trace;   // why not: "no trace on dev, staging"
  std::string no_size;    // why the target's sizes are unknown (a lock in the way): not scaled
  std::vector<StatementForecast> statements;
};

// The statements of `t` that take a lock or rewrite, scaled by `target` sizes.
std::vector<StatementForecast> forecast_trace(const steps::LockTrace& t,
                                              const std::map<std::string, db::RelationSize>& target);

// The traces of the stages before `env` in the playbook (nearest stage first), read read-only.
struct EarlierTraces {
  std::map<std::string, steps::LockTrace> by_version;
  std::vector<std::string> looked_in;    // stages read
  std::vector<std::string> unreachable;  // "staging: connection refused"
};
EarlierTraces earlier_traces(const config::Project& project, const config::Playbook& pb, const std::string& env);

// One forecast per pending migration: its trace scaled by the target's sizes (read from `target`).
std::vector<MigrationForecast> forecast_stage(const EarlierTraces& traces,
                                              const std::vector<steps::PendingItem>& pending, db::Connection& target);

}  // namespace ferry::run
