// `ferry plan PLAYBOOK [--env ENV] [--json]`: what a run would do on each stage, from the same
// typed planning function the runner uses (run/stage_plan.*). Exit 3 when a stage would be
// refused (drift, interrupted migration, closed gate, lock held), 1 when a stage cannot be read.
#include <algorithm>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "cli/commands.hpp"
#include "cli/fleet_options.hpp"
#include "cli/plan_view.hpp"
#include "cli/lint_command.hpp"
#include "cli/lock_views.hpp"
#include "config/loader.hpp"
#include "core/output.hpp"
#include "run/stage_plan.hpp"
#include "run/target.hpp"

using nlohmann::json;

namespace ferry::cli {

namespace {

// The forecast of a stage's pending migrations from the traces of the stages before it. Alembic
// migrations are not traced (alembic runs them); a failure to read is a note, never a plan error.
std::vector<run::MigrationForecast> read_forecast(const config::Project& project, const config::Playbook& pb,
                                                  const config::Environment& env, const run::StagePlan& plan,
                                                  db::Connection& conn) {
  const auto& pending = plan.state.pending;
  if (pending.empty()) return {};
  std::string why;
  if (pb.migrations.driver == config::Driver::Alembic) why = "no trace (Alembic migrations are not traced)";
  if (why.empty()) {
    try {
      return run::forecast_stage(run::earlier_traces(project, pb, env.name), pending, conn);
    } catch (const Error& e) {
      why = std::string("no trace (") + e.what() + ")";
    }
  }
  std::vector<run::MigrationForecast> out;
  for (const auto& p : pending) out.push_back({p.label, "", why, "", {}});
  return out;
}

}  // namespace

std::string verdict(run::RefusalKind k) {
  switch (k) {
    case run::RefusalKind::Drift:
      return "refused (drift)";
    case run::RefusalKind::Interrupted:
      return "refused (interrupted migration)";
    case run::RefusalKind::Gate:
      return "refused (gate closed)";
    case run::RefusalKind::Locked:
      break;
  }
  return "refused (lock held)";
}

StageView read_stage(const config::Project& project, const config::Playbook& pb, const config::Environment& env,
                     const std::vector<migrate::Migration>& files, const std::set<std::string>& earlier, bool lint,
                     bool forecast) {
  StageView v;
  v.environment = env.name;
  run::DbLink link;
  try {
    link = run::connect(env);
  } catch (const Error& e) {
    v.error = e.what();
    v.unreachable = true;
    return v;
  }
  db::Ledger ledger(*link.conn);
  steps::Transports transports(env);
  auto driver = steps::make_driver(pb.migrations, transports, files);
  v.version_noun = driver->version_noun();
  try {
    v.plan = run::plan_stage(project, env, *driver, *link.conn, ledger, earlier);
    v.plan->rollback = driver->rollback_for_plan(pb, v.plan->state);
    v.refusal = v.plan->refusal;
    if (forecast) v.forecast = read_forecast(project, pb, env, *v.plan, *link.conn);
    if (auto lock = ledger.lock_holder()) {
      v.lock_holder = lock->describe();
      if (!v.refusal) v.refusal = run::locked_refusal("'" + env.name + "' is locked by " + v.lock_holder);
    }
    if (lint) {
      std::ostringstream os;
      if (pb.migrations.driver == config::Driver::Alembic) {
        if (!v.plan->state.pending.empty())
          print_plan_lint_alembic(os, pb, *link.conn, transports.get(pb.migrations.on), v.plan->state.current);
      } else {
        print_plan_lint(os, pb, *link.conn, v.plan->state.pending_files);
      }
      v.lint = os.str();
    }
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::Refused)
      v.refusal = run::Refusal{run::RefusalKind::Drift, e.what(), ""};
    else
      v.error = e.what();
  }
  return v;
}

namespace {

void print_gate(std::ostream& os, const Globals& g, const config::Environment& env, const run::StagePlan& p) {
  if (!p.gate_checked) return;
  std::string reqs;
  for (const auto& r : env.requires_envs) reqs += (reqs.empty() ? "" : ", ") + r;
  if (p.gaps.empty()) {
    os << "  gate (" << reqs << "): " << paint(g, "32", "open") << "\n";
  } else if (p.gate_opens_with_earlier) {
    os << "  gate (" << reqs << "): opens once the earlier stages of this run succeed\n";
  } else {
    os << "  gate (" << reqs << "): " << paint(g, "31", "closed") << "\n";
    for (const auto& gap : p.gaps) os << "    - " << gap.message << "\n";
  }
}

void print_stage(std::ostream& os, const Globals& g, const config::Environment& env, const StageView& v) {
  if (!v.error.empty())
    os << "  " << paint(g, "31", v.unreachable ? "unreachable" : "error") << ": " << console_part(v.error) << "\n";
  if (v.plan) {
    const auto& st = v.plan->state;
    os << "  at " << v.version_noun << " " << or_none(st.current) << "; " << st.pending.size() << " pending\n";
    for (const auto& m : st.pending)
      os << "    + " << m.label << (m.label == m.version && !m.name.empty() ? "  " + m.name : "")
         << (m.no_transaction ? "  (no transaction)" : "") << (m.irreversible ? "  (irreversible)" : "") << "\n";
    for (const auto& d : st.drift) os << "  " << paint(g, "31", "drift") << ": " << d << "\n";
    for (const auto& c : st.interrupted) os << "  " << paint(g, "31", "interrupted") << ": " << c << "\n";
    if (!v.lock_holder.empty()) os << "  lock: held by " << v.lock_holder << "\n";
    print_gate(os, g, env, *v.plan);
    os << v.lint;
    print_forecast(os, env.name, v.forecast);
  }
  if (v.refusal) {
    os << "  verdict: " << paint(g, "31", verdict(v.refusal->kind)) << "\n";
    if (!v.plan) os << "  " << console_part(v.refusal->message) << "\n";
    if (!v.refusal->hint.empty()) os << "  hint: " << v.refusal->hint << "\n";
  }
}

}  // namespace

json stage_json(const StageView& v) {
  json s = {{"environment", v.environment}, {"current_version", nullptr}, {"pending", json::array()},
            {"refusal", nullptr},           {"rollback", nullptr},        {"error", nullptr}};
  if (v.plan) {
    const auto& p = *v.plan;
    s["current_version"] = p.state.current.empty() ? json(nullptr) : json(p.state.current);
    for (const auto& m : p.state.pending)
      s["pending"].push_back({{"version", m.version}, {"name", m.name}, {"file", m.file}});
    s["forecast"] = forecast_json(v.forecast);
    s["rollback"] = {{"method", steps::method_id(p.rollback.method)}, {"reason", p.rollback.reason}};
  }
  if (v.refusal) s["refusal"] = {{"kind", run::refusal_id(v.refusal->kind)}, {"message", v.refusal->message}};
  if (!v.error.empty()) s["error"] = v.error;
  return s;
}

int cmd_plan(const Globals& g, const std::string& playbook, const std::optional<std::string>& only, bool as_json) {
  auto project = config::load_project(g.root);
  if (only) select_database(project, *only, g.database, false);
  auto pb = config::load_playbook(project, playbook);
  auto files = run::load_playbook_migrations(project, pb.migrations);
  std::vector<std::string> stages = pb.stages;
  if (only) {
    if (std::find(stages.begin(), stages.end(), *only) == stages.end())
      throw Error(ErrorKind::Config, "playbook '" + pb.name + "' has no stage '" + *only + "'");
    stages = {*only};
  }
  bool selects = !g.fleet_only.empty() || !g.fleet_exclude.empty() || !g.fleet_shard.empty();
  if (selects && std::none_of(stages.begin(), stages.end(),
                              [&](const auto& s) { return project.environment(s).database.fleet(); }))
    throw Error(ErrorKind::Config,
                "--only, --exclude and --shard select databases of a fleet environment; "
                "this plan has none");
  // Everything plan prints passes through the project's secrets (a ${secret:VAR} in a step).
  std::ostringstream os;
  auto flush = [&] {
    std::cout << project.secrets.redact(os.str()) << std::flush;
    os.str("");
  };
  json out = {{"schema_version", 1}, {"playbook", pb.name}, {"stages", json::array()}};
  if (!as_json) os << paint(g, "1", "plan " + pb.name) << (pb.description.empty() ? "" : "  " + pb.description) << "\n";
  bool failed = false, refused = false;
  std::set<std::string> earlier;
  for (const auto& name : stages) {
    const auto& env = project.environment(name);
    if (env.database.fleet()) {  // each selected database of the fleet (cli/fleet_plan_view.cpp)
      plan_fleet_stage(os, out["stages"], as_json, g, project, pb, env, files, earlier, failed, refused);
      earlier.insert(name);
      if (!as_json) flush();
      continue;
    }
    if (!as_json)
      os << paint(g, "1", "stage " + name) << "  " << run::target_description(env)
         << (env.is_protected ? paint(g, "33", "  [protected: needs --yes]") : "") << "\n";
    auto v = read_stage(project, pb, env, files, earlier, !as_json);
    failed |= !v.error.empty();
    refused |= v.refusal.has_value();
    earlier.insert(name);
    if (as_json) {
      out["stages"].push_back(stage_json(v));
      continue;
    }
    print_stage(os, g, env, v);
    os << "  steps:";
    for (const auto& s : pb.steps) os << " " << s.label() << ";";
    os << "\n";
    if (v.plan)
      os << "  on failure: "
         << (pb.on_failure == config::OnFailure::Stop ? "stop"
                                                      : "roll back by " + steps::method_name(v.plan->rollback.method))
         << " (" << v.plan->rollback.reason << ")\n";
    flush();
  }
  if (as_json) os << out.dump(2) << "\n";
  flush();
  return failed ? 1 : refused ? exit_code::k_refused : 0;
}

}  // namespace ferry::cli
