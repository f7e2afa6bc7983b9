// restart and health steps, and the service actions compensation reuses.
#include "steps/service.hpp"

#include "core/interrupt.hpp"
#include "core/text.hpp"
#include "steps/backup.hpp"
#include "steps/health.hpp"
#include "log/log.hpp"

namespace ferry::steps {

std::string restart_service(StageContext& ctx, const config::Service& svc, std::optional<Millis> timeout) {
  auto cmd = transport::Command::shell(svc.restart);
  cmd.env = svc.restart_env;  // ${VAR} values: expanded by the shell, never pasted into its text
  cmd.timeout = timeout ? *timeout : svc.restart_timeout;
  if (ctx.env.connections.at(svc.on).type == config::ConnectionType::Local) cmd.cwd = ctx.project.root;
  auto& t = ctx.transports.get(svc.on);
  log::debug("restart " + svc.name + " on " + t.describe() + ": " + svc.restart);
  auto res = t.run(cmd);
  if (res.timed_out)
    throw Error(ErrorKind::Command, "restart of '" + svc.name + "' timed out after " + format_duration(*cmd.timeout) +
                                        " on " + t.describe());
  if (!res.ok())
    throw Error(ErrorKind::Command, "restart of '" + svc.name + "' exited with " + std::to_string(res.exit_code) +
                                        " on " + t.describe() +
                                        (res.failure_text().empty() ? "" : ": " + res.failure_text()));
  return "restarted on " + t.describe();
}

namespace {
// A service command (version:, rollback:) on the service's connection; throws Error(Command)
// naming `what` (the command itself) and its output.
transport::CommandResult run_service_command(StageContext& ctx, const config::Service& svc, const std::string& what,
                                             const std::string& text, std::map<std::string, std::string> env,
                                             Millis timeout) {
  auto cmd = transport::Command::shell(text);
  cmd.env = std::move(env);  // values reach the shell through its environment, never its text
  cmd.timeout = timeout;
  if (ctx.env.connections.at(svc.on).type == config::ConnectionType::Local) cmd.cwd = ctx.project.root;
  auto& t = ctx.transports.get(svc.on);
  log::debug(what + " of " + svc.name + " on " + t.describe() + ": " + text);
  auto res = t.run(cmd);
  std::string head = what + " of '" + svc.name + "' (" + text + ")";
  if (res.timed_out)
    throw Error(ErrorKind::Command, head + " timed out after " + format_duration(timeout) + " on " + t.describe());
  if (!res.ok())
    throw Error(ErrorKind::Command, head + " exited with " + std::to_string(res.exit_code) + " on " + t.describe() +
                                        (res.failure_text().empty() ? "" : ": " + res.failure_text()));
  return res;
}
}  // namespace

std::string record_code_versions(StageContext& ctx) {
  for (const auto& step : ctx.playbook.steps) {
    if (step.kind != config::StepKind::Restart) continue;
    const auto& svc = ctx.env.services.at(step.service);
    if (svc.version.empty() || ctx.code_versions.count(svc.name)) continue;
    std::string label = "version " + svc.name;
    Stopwatch sw;
    ctx.reporter.step_started(label);
    try {
      auto res = run_service_command(ctx, svc, "version", svc.version, svc.version_env, svc.restart_timeout);
      std::string v = trim(res.out);
      if (auto nl = v.rfind('\n'); nl != std::string::npos) v = trim(v.substr(nl + 1));
      ctx.code_versions[svc.name] = v;
      ctx.reporter.step_finished(label, v.empty() ? "(printed nothing)" : v, sw.elapsed());
    } catch (const Error& e) {
      ctx.reporter.step_failed(label, e.what(), sw.elapsed());
      return e.what();
    }
  }
  return "";
}

std::string rollback_service(StageContext& ctx, const config::Service& svc, std::optional<Millis> timeout) {
  auto env = svc.rollback_env;
  if (auto it = ctx.code_versions.find(svc.name); it != ctx.code_versions.end())
    env["FERRY_PREVIOUS_VERSION"] = it->second;
  run_service_command(ctx, svc, "rollback", svc.rollback, env, timeout ? *timeout : svc.restart_timeout);
  std::string what = "rolled back";
  if (auto it = env.find("FERRY_PREVIOUS_VERSION"); it != env.end()) what += " to " + it->second;
  if (!svc.health) return what;
  return what + ", " + check_health(ctx, svc, "rollback " + svc.name, std::nullopt);
}

std::string check_health(StageContext& ctx, const config::Service& svc, const std::string& step_label,
                         std::optional<Millis> timeout) {
  config::HealthSpec spec = *svc.health;
  if (timeout) spec.timeout = *timeout;
  // health.via: the request travels through an SSH tunnel opened on that connection.
  std::unique_ptr<transport::SshTunnel> tunnel;
  std::string connect_to;
  if (!spec.via.empty() && ctx.env.connections.at(spec.via).type == config::ConnectionType::Ssh) {
    auto [host, port] = url_host_port(spec.url);
    tunnel = std::make_unique<transport::SshTunnel>(ctx.transports.ssh_session(spec.via), host, port);
    connect_to = host + ":" + std::to_string(port) + ":127.0.0.1:" + std::to_string(tunnel->local_port());
  }
  Stopwatch sw;
  auto res = probe_health(
      spec,
      [&](int n, const std::string& why) {
        ctx.reporter.step_progress(
            step_label, "attempt " + std::to_string(n) + ": " + why + " (" + format_duration(sw.elapsed()) + ")");
      },
      [] { return interrupted(); }, connect_to);
  if (!res.ok) {
    if (interrupted()) throw Error(ErrorKind::Command, "interrupted by " + interrupt_name());
    throw Error(ErrorKind::Verify, svc.name + " unhealthy after " + std::to_string(res.attempts) + " attempt(s) in " +
                                       format_duration(sw.elapsed()) + ": " + spec.url + ": " + res.last);
  }
  return "healthy (" + spec.url + ", " + std::to_string(res.attempts) + " attempt" + (res.attempts == 1 ? "" : "s") +
         ")";
}

namespace {
class RestartStep : public Step {
 public:
  using Step::Step;
  std::string run(StageContext& ctx) override {
    return restart_service(ctx, ctx.env.services.at(m_spec.service), m_spec.timeout);
  }
  // Once the other steps are undone: the service's rollback command (the code goes back with
  // the schema), else a restart again, so the service runs against what they left.
  std::string undo(StageContext& ctx) override {
    const auto& svc = ctx.env.services.at(m_spec.service);
    if (!svc.rollback.empty()) return rollback_service(ctx, svc, m_spec.timeout);
    return restart_service(ctx, svc, m_spec.timeout);
  }
  bool undo_last() const override { return true; }
};
class HealthStep : public Step {
 public:
  using Step::Step;
  std::string run(StageContext& ctx) override {
    return check_health(ctx, ctx.env.services.at(m_spec.service), name(), m_spec.timeout);
  }
};
}  // namespace

std::unique_ptr<Step> make_step_extra(const config::StepSpec& spec) {
  switch (spec.kind) {
    case config::StepKind::Restart:
      return std::make_unique<RestartStep>(spec);
    case config::StepKind::Health:
      return std::make_unique<HealthStep>(spec);
    case config::StepKind::Backup:
      return make_backup_step(spec);
    default:
      throw Error(ErrorKind::Internal, "no step for " + spec.label());
  }
}

}  // namespace ferry::steps
