// restart and health steps, and the service actions compensation reuses.
#include "steps/service.hpp"

#include "core/interrupt.hpp"
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
  // Restarts again once the other steps are undone, so the service runs against what they left.
  std::string undo(StageContext& ctx) override {
    return restart_service(ctx, ctx.env.services.at(m_spec.service), m_spec.timeout);
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
