// Before the first change of a stage (and in `ferry lint` / `ferry plan` when online): the lint
// findings at `high` that the migrations do not accept, and a read-only preflight of the target
// (old transactions and lock queues on the tables the migrations touch, another tool's migration
// lock, replication lag). Protected environments refuse (exit 3); others warn.
#pragma once
#include <future>
#include <string>
#include <vector>

#include "config/model.hpp"
#include "db/pg.hpp"
#include "migrate/lint/pending.hpp"
#include "report/reporter.hpp"
#include "steps/context.hpp"

namespace ferry::run {

// The migrate step of `pb` (defaults when it has none): lock_timeout and the preflight thresholds.
config::StepSpec migrate_spec(const config::Playbook& pb);

// One line per problem the preflight finds on `conn` (none: empty), naming the blocking session.
std::vector<std::string> preflight_problems(db::Connection& conn, const std::vector<std::string>& tables,
                                            const config::StepSpec& spec);

// "FILE:LINE:COL: CODE high: detail" and the accept-risk line to add, per finding at or above high
// that is not accepted.
std::vector<std::string> unaccepted_high(const std::vector<migrate::lint::Linted>& linted);

struct PreflightOutcome {
  std::string refusal;  // "" = go on
  std::string hint;
};

struct LintOutcome {
  std::vector<migrate::lint::Linted> linted;  // levels not scaled yet: preflight reads the sizes
  std::string error;                          // the migrations could not be linted
};
// Lints the stage's pending migrations (ctx.state) without the database: native ones on a thread
// of their own, from the files already read, so that the caller can read the baseline on ctx.db
// meanwhile; Alembic ones (`alembic --sql` through the transports) when preflight asks. Invalid
// (nothing to lint) when nothing is pending.
std::future<LintOutcome> start_lint(steps::StageContext& ctx);

// The lint's findings scaled by the target's table sizes and the target preflighted; warnings
// reported on `rep` for an environment that is not protected, a refusal for one that is.
PreflightOutcome preflight(steps::StageContext& ctx, report::Reporter& rep, std::future<LintOutcome> linting);

}  // namespace ferry::run
