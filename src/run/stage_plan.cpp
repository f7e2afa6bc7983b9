#include "run/stage_plan.hpp"

#include "run/target.hpp"

namespace ferry::run {

std::string refusal_id(RefusalKind k) {
  switch (k) {
    case RefusalKind::Drift:
      return "drift";
    case RefusalKind::Interrupted:
      return "interrupted";
    case RefusalKind::Gate:
      return "gate";
    case RefusalKind::Locked:
      break;
  }
  return "locked";
}

namespace {
std::string lines(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += "\n  " + i;
  return out;
}

// For a required fleet: how its gate reads, and where to see which of its databases lag.
std::string fleet_hint(const config::Project& project, const StagePlan& p) {
  std::string out;
  for (const auto& g : p.gaps) {
    auto it = project.environments.find(g.env);
    if (it == project.environments.end() || !it->second.database.fleet()) continue;
    if (out.find("'" + g.env + "'") != std::string::npos) continue;
    out += "; the fleet '" + g.env + "' opens the gate only when every one of its databases holds each migration " +
           "(`ferry status --env " + g.env + "` lists those behind; `ferry run ... --resume RUN_ID` finishes a run)";
  }
  return out;
}

std::optional<Refusal> first_refusal(const config::Project& project, const config::Environment& env,
                                     const StagePlan& p) {
  if (!p.state.drift.empty())
    return Refusal{RefusalKind::Drift, "drift in '" + env.name + "':" + lines(p.state.drift),
                   "restore the migration files as they were applied, or roll back with `ferry rollback " + env.name +
                       " --to VERSION`"};
  if (!p.state.interrupted.empty())
    return Refusal{RefusalKind::Interrupted,
                   "'" + env.name + "' has an interrupted migration:" + lines(p.state.interrupted),
                   interrupted_hint(env)};
  if (!p.gaps.empty() && !p.gate_opens_with_earlier) {
    std::vector<std::string> missing;
    for (const auto& g : p.gaps) missing.push_back(g.message);
    return Refusal{RefusalKind::Gate, "gate: '" + env.name + "' requires what is missing:" + lines(missing),
                   "promote through the required environments first" + fleet_hint(project, p)};
  }
  return std::nullopt;
}
}  // namespace

StagePlan plan_stage(const config::Project& project, const config::Environment& env, steps::Driver& driver,
                     db::Connection& db, db::Ledger& ledger, const std::set<std::string>& earlier) {
  StagePlan p;
  p.state = driver.read(db, ledger);
  if (!env.requires_envs.empty()) {
    p.gate_checked = true;
    p.gaps = check_gate(project, env, driver, p.state);
    p.gate_opens_with_earlier = !p.gaps.empty();
    for (const auto& g : p.gaps)
      p.gate_opens_with_earlier &= g.kind == steps::GapKind::NotApplied && earlier.count(g.env) > 0;
  }
  p.refusal = first_refusal(project, env, p);
  return p;
}

Refusal locked_refusal(const std::string& message) {
  return {RefusalKind::Locked, message,
          "wait for that run to finish (--wait-lock DURATION waits for it); ferry never breaks another run's lock"};
}

}  // namespace ferry::run
