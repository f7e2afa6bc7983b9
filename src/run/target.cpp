#include "run/target.hpp"

#include <algorithm>
#include <filesystem>

#include "config/loader.hpp"
#include "migrate/sql_parser.hpp"
#include "run/fleet_gate.hpp"
#include "steps/recovery.hpp"

namespace ferry::run {

DbLink connect(const config::Environment& env, steps::Transports* transports) {
  if (env.database.fleet())
    throw Error(ErrorKind::Config,
                "environment '" + env.name + "' is a fleet of databases: name one with --database NAME");
  DbLink link;
  db::ConnectParams p = steps::connect_params(env, env.database.name);
  if (!env.database.tunnel.empty()) {
    if (!transports) {
      link.own_transports = std::make_unique<steps::Transports>(env);
      transports = link.own_transports.get();
    }
    link.tunnel = transports->tunnel(env.database.tunnel, env.database.host, env.database.port);
    p.host = "127.0.0.1";
    p.port = link.tunnel->local_port();
  }
  try {
    link.conn = std::make_unique<db::Connection>(p);
  } catch (const Error& e) {
    // ALLOW_CONNECTIONS false: what a swap restore killed inside its window leaves (restore_window.*).
    if (std::string(e.what()).find("not currently accepting connections") == std::string::npos) throw;
    throw Error(e.kind(), std::string(e.what()) +
                              " (if a ferry swap restore was stopped while it held them blocked, `ferry repair " +
                              env.name +
                              " --reason TEXT` or the next `ferry rollback`/`ferry backup` allows them again, as "
                              "its renaming provably did not happen)");
  }
  return link;
}

std::string target_description(const config::Environment& env) {
  return "database " + env.database.name + " on " + env.database.host + ":" + std::to_string(env.database.port) +
         (env.database.tunnel.empty() ? "" : " through ssh '" + env.database.tunnel + "'");
}

std::vector<migrate::Migration> load_playbook_migrations(const config::Project& project,
                                                         const config::MigrationsSource& src) {
  if (src.driver != config::Driver::Native) return {};
  std::filesystem::path dir = std::filesystem::path(src.dir).is_absolute()
                                  ? std::filesystem::path(src.dir)
                                  : std::filesystem::path(project.root) / src.dir;
  return migrate::load_migrations(dir.string(), src.dir);
}

std::vector<steps::GateGap> check_gate(const config::Project& project, const config::Environment& env,
                                       steps::Driver& driver, const steps::DriverState& state) {
  std::vector<steps::GateGap> gaps;
  for (const auto& req_name : env.requires_envs) {
    try {
      const auto& req = project.environment(req_name);
      if (req.database.fleet()) {  // every database of the fleet, each read live (run/fleet_gate.*)
        for (auto& g : fleet_gate(req, driver, state)) gaps.push_back(std::move(g));
        continue;
      }
      auto link = connect(req);
      for (auto& g : driver.gate(req_name, *link.conn, state)) gaps.push_back(std::move(g));
    } catch (const Error& e) {
      gaps.push_back({req_name, steps::GapKind::CannotCheck, req_name + ": cannot check: " + e.what()});
    }
  }
  return gaps;
}

std::string interrupted_hint(const config::Environment& env) {
  return "a human must look: undo what it applied (see its down.sql) or restore a backup (`ferry rollback " + env.name +
         " --backup ID`, which settles it), then mark it settled: INSERT INTO ferry.history (version, name, "
         "action, run_id) VALUES ('VERSION', 'NAME', 'resolved', 'by hand')";
}

bool record_run_outcome(steps::StageContext& ctx, const std::string& outcome, const std::string& error,
                        const std::string& backup_id) {
  try {
    ctx.ledger.finish_run(ctx.run_id, outcome, steps::current_version(ctx), error, backup_id);
    return true;
  } catch (const Error&) {
  }
  try {
    auto link = connect(ctx.env, &ctx.transports);
    db::Ledger ledger(*link.conn);
    std::string version = ctx.driver->current_version(*link.conn, ledger);
    ledger.finish_run(ctx.run_id, outcome, version, error, backup_id);
    return true;
  } catch (const Error& e) {
    ctx.reporter.message(report::Level::Warn, std::string("could not record the run's outcome: ") + e.what());
    return false;
  }
}

}  // namespace ferry::run
