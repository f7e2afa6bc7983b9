// Hooks: `run` steps after a stage, with the stage's outcome in FERRY_STAGE_OUTCOME.
#include "run/hooks.hpp"

#include "core/text.hpp"
#include "log/log.hpp"
#include "steps/context.hpp"
#include "steps/ferry_env.hpp"

namespace ferry::run {

namespace {

// One hook; throws Error when it cannot be run or exits non-zero.
std::string run_hook(const config::Project& project, const config::Environment& env, steps::Transports& transports,
                     const config::StepSpec& spec, const steps::FerryVars& vars) {
  transport::Command cmd;
  cmd.argv = {"bash", "-o", "pipefail", "-c", spec.command};  // ${VAR} values via env, as in run steps
  cmd.env = spec.env;
  steps::add_ferry_env(cmd.env, vars);
  cmd.timeout = spec.timeout;
  if (env.connections.at(spec.on).type == config::ConnectionType::Local) cmd.cwd = project.root;
  auto& t = transports.get(spec.on);
  log::debug("hook on " + t.describe() + ": " + spec.command);
  auto res = t.run(cmd);
  if (res.timed_out)
    throw Error(ErrorKind::Command, "timed out after " + format_duration(*spec.timeout) + " on " + t.describe());
  if (res.exit_code != 0)
    throw Error(ErrorKind::Command, "exited with " + std::to_string(res.exit_code) + " on " + t.describe() +
                                        (res.failure_text().empty() ? "" : ": " + res.failure_text()));
  std::string last = res.last_line();
  return last.empty() ? "exit 0" : last;
}

void run_list(const std::string& key, const std::vector<config::StepSpec>& hooks, const config::Project& project,
              const config::Environment& env, const steps::FerryVars& vars, report::Reporter& rep) {
  if (hooks.empty()) return;
  steps::Transports transports(env);
  for (const auto& spec : hooks) {
    std::string name = key + ": " + spec.label();
    Stopwatch sw;
    rep.step_started(name);
    try {
      rep.step_finished(name, run_hook(project, env, transports, spec, vars), sw.elapsed());
    } catch (const std::exception& e) {
      rep.step_failed(name, e.what(), sw.elapsed());
      rep.message(report::Level::Warn, "hook '" + name + "' failed; the stage's outcome stays " + vars.outcome);
    }
  }
}

}  // namespace

void run_hooks(const config::Project& project, const config::Playbook& pb, const config::Environment& env,
               const report::StageSummary& sum, report::Reporter& rep) {
  steps::FerryVars vars{sum.run_id, pb.name, env.name, sum.outcome, sum.backup_id, sum.backup_file};
  if (sum.outcome != "succeeded") run_list("on_failure", pb.on_failure_hooks, project, env, vars, rep);
  run_list("finally", pb.finally_hooks, project, env, vars, rep);
}

}  // namespace ferry::run
