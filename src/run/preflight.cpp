#include "run/preflight.hpp"

#include <cstdio>
#include <future>

#include "core/duration.hpp"
#include "core/error.hpp"
#include "db/preflight.hpp"
#include "migrate/migration_set.hpp"

namespace ferry::run {

namespace lint = migrate::lint;

config::StepSpec migrate_spec(const config::Playbook& pb) {
  for (const auto& s : pb.steps)
    if (s.kind == config::StepKind::Migrate) return s;
  return config::StepSpec{};
}

std::vector<std::string> preflight_problems(db::Connection& conn, const std::vector<std::string>& tables,
                                            const config::StepSpec& spec) {
  double age = static_cast<double>(spec.preflight_max_age.count()) / 1000.0;
  double lag = static_cast<double>(spec.preflight_max_lag.count()) / 1000.0;
  auto r = db::read_preflight(conn, tables, age, lag);
  std::vector<std::string> out;
  for (const auto& s : r.old_transactions)
    out.push_back("transaction open longer than " + format_duration(spec.preflight_max_age) +
                  " on a table the migrations touch: " + db::describe(s));
  for (const auto& s : r.queued) out.push_back("lock queue on a table the migrations touch: " + db::describe(s));
  for (const auto& s : r.tool_locks) out.push_back("another tool's migration lock: " + db::describe(s));
  for (const auto& l : r.lagging) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f s", l.replay_lag_s);
    out.push_back("replica '" + l.application_name + "' (" + l.client_addr + ") replay lag " + buf + ", over " +
                  format_duration(spec.preflight_max_lag));
  }
  for (const auto& name : r.unreadable_replicas)
    out.push_back("replica '" + name +
                  "': this role cannot read its replay lag in pg_stat_replication (grant it pg_monitor)");
  return out;
}

std::vector<std::string> unaccepted_high(const std::vector<lint::Linted>& linted) {
  std::vector<std::string> out;
  for (const auto& l : linted)
    for (const auto& f : l.findings) {
      if (f.accepted || f.level < lint::Level::High) continue;
      out.push_back(f.file + ":" + std::to_string(f.line) + ":" + std::to_string(f.col) + ": " + f.code + " " +
                    lint::level_name(f.level) + ": " + f.detail + "\n    to accept it, add to " + l.file +
                    ": -- ferry:accept-risk " + f.code + " WHY THE RISK IS ACCEPTED");
    }
  return out;
}

namespace {
std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += "\n  " + l;
  return out;
}
}  // namespace

std::future<LintOutcome> start_lint(steps::StageContext& ctx) {
  if (ctx.state.pending.empty()) return {};
  const auto& src = ctx.playbook.migrations;
  if (src.driver == config::Driver::Alembic)  // `alembic --sql` through the transports, later on this thread
    return std::async(std::launch::deferred, [&ctx, &src]() -> LintOutcome {
      try {
        return {lint::lint_alembic(ctx.transports.get(src.on), src, ctx.state.current, nullptr, lint::Thresholds{}),
                ""};
      } catch (const Error& e) {
        return {{}, e.what()};
      }
    });
  // Files already read, no database: it runs while the caller uses ctx.db. The lint's parse also
  // gives each pending migration's data-loss facts, which its ledger row records (the copies
  // share them with the runner's: migrate::data_loss), off the run's critical path.
  return std::async(std::launch::async,
                    [files = ctx.state.pending_files, timeout = migrate_spec(ctx.playbook).lock_timeout.count()] {
                      try {
                        return LintOutcome{lint::lint_native(files, timeout, nullptr, lint::Thresholds{}), ""};
                      } catch (const Error& e) {
                        return LintOutcome{{}, e.what()};
                      }
                    });
}

PreflightOutcome preflight(steps::StageContext& ctx, report::Reporter& rep, std::future<LintOutcome> linting) {
  if (!linting.valid()) return {};  // nothing pending
  auto spec = migrate_spec(ctx.playbook);
  const std::string& env = ctx.env.name;
  LintOutcome lo = linting.get();
  if (!lo.error.empty()) {
    if (ctx.env.is_protected)
      return {"'" + env + "' is protected and its pending migrations could not be linted: " + lo.error,
              "`ferry lint PLAYBOOK` shows the same error"};
    rep.message(report::Level::Warn, "lint: " + lo.error);
  }
  auto& linted = lo.linted;
  // Locks first (catalog reads only): reading sizes opens the tables and could queue.
  auto problems = preflight_problems(ctx.db, lint::finding_tables(linted), spec);
  if (!problems.empty()) {
    std::string what = "preflight on '" + env + "':" + joined(problems);
    if (ctx.env.is_protected)
      return {"'" + env + "' is protected and the " + what,
              "wait for those sessions to finish (or end them), then run again"};
    rep.message(report::Level::Warn, what);
  }
  lint::scale_linted(linted, ctx.db, lint::Thresholds{});
  auto high = unaccepted_high(linted);
  if (!high.empty()) {
    std::string what = std::to_string(high.size()) + " lint finding(s) at high not accepted:" + joined(high);
    if (ctx.env.is_protected)
      return {"'" + env + "' is protected and " + what,
              "make the migration safe (`ferry lint PLAYBOOK` shows the safe form), or accept the risk with the "
              "line shown"};
    rep.message(report::Level::Warn, what);
  }
  return {};
}

}  // namespace ferry::run
