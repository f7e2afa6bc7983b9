#include "run/target.hpp"

#include <algorithm>
#include <filesystem>

#include "config/loader.hpp"
#include "migrate/sql_parser.hpp"

namespace ferry::run {

DbLink connect(const config::Environment& env, steps::Transports* transports) {
  DbLink link;
  db::ConnectParams p;
  p.host = env.database.host;
  p.port = env.database.port;
  if (!env.database.tunnel.empty()) {
    if (!transports) {
      link.own_transports = std::make_unique<steps::Transports>(env);
      transports = link.own_transports.get();
    }
    link.tunnel = transports->tunnel(env.database.tunnel, env.database.host, env.database.port);
    p.host = "127.0.0.1";
    p.port = link.tunnel->local_port();
  }
  p.dbname = env.database.name;
  p.user = env.database.user;
  p.password = env.database.password;
  p.sslmode = env.database.sslmode;
  p.connect_timeout_s = env.database.connect_timeout_s;
  link.conn = std::make_unique<db::Connection>(p);
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

std::vector<std::string> check_gate(const config::Project& project, const config::Environment& env,
                                    const std::vector<migrate::Migration>& pending) {
  std::vector<std::string> missing;
  for (const auto& req_name : env.requires_envs) {
    const auto& req = project.environment(req_name);
    DbLink link;
    try {
      link = connect(req);
    } catch (const Error& e) {
      missing.push_back(req_name + ": cannot check: " + e.what());
      continue;
    }
    auto& conn = link.conn;
    db::Ledger ledger(*conn);
    std::map<std::string, std::pair<std::string, std::string>> have;  // version -> checksum, outcome
    if (ledger.schema_exists()) {
      auto r = conn->exec(
          "SELECT m.version, m.checksum, coalesce(r.outcome, 'unknown') FROM ferry.migrations m "
          "LEFT JOIN ferry.runs r ON r.id = m.run_id");
      for (int i = 0; i < r.rows(); ++i) have[r.text(i, 0)] = {r.text(i, 1), r.text(i, 2)};
    }
    for (const auto& m : pending) {
      auto it = have.find(m.version);
      if (it == have.end())
        missing.push_back(req_name + ": " + m.id() + " is not applied");
      else if (it->second.first != m.checksum)
        missing.push_back(req_name + ": " + m.id() + " was applied with a different checksum (" +
                          it->second.first.substr(0, 12) + ", here " + m.checksum.substr(0, 12) + ")");
      else if (it->second.second != "succeeded")
        missing.push_back(req_name + ": " + m.id() + " was applied by a run whose outcome is '" + it->second.second +
                          "'");
    }
  }
  return missing;
}

std::vector<std::string> check_alembic_gate(const config::Project& project, const config::Environment& env,
                                            const std::vector<migrate::AlembicRevision>& chain,
                                            const std::vector<migrate::AlembicRevision>& pending) {
  std::vector<std::string> missing;
  if (pending.empty()) return missing;
  const auto& newest = pending.back();
  for (const auto& req_name : env.requires_envs) {
    try {
      auto link = connect(project.environment(req_name));
      std::string cur = migrate::alembic_current(*link.conn);
      std::string at = " (" + req_name + " is at " + (cur.empty() ? std::string("base") : cur) + ")";
      bool all_there = true;
      for (const auto& r : pending)
        if (!migrate::alembic_reached(chain, cur, r.id)) {
          missing.push_back(req_name + ": " + r.id + " (" + r.message + ") is not applied" + at);
          all_there = false;
        }
      if (!all_there) continue;
      db::Ledger ledger(*link.conn);
      bool ok = false;
      for (const auto& run : ledger.runs(50))
        ok |= run.outcome == "succeeded" && migrate::alembic_reached(chain, run.version_after, newest.id);
      if (!ok) missing.push_back(req_name + ": no succeeded ferry run brought it to " + newest.id);
    } catch (const Error& e) {
      missing.push_back(req_name + ": cannot check: " + e.what());
    }
  }
  return missing;
}

std::vector<std::string> interrupted_migrations(db::Ledger& ledger) {
  std::vector<std::string> out;
  for (const auto& e : ledger.interrupted_applies())
    out.push_back(e.version + "_" + e.name + " (no-transaction) was cut off while applying (run " + e.run_id + ", " +
                  e.at + "): part of it may be applied, and it is not in the ledger");
  return out;
}

std::string interrupted_hint(const config::Environment& env) {
  return "a human must look: undo what it applied (see its down.sql) or restore a backup (`ferry rollback " + env.name +
         " --backup ID`, which settles it), then mark it settled: INSERT INTO ferry.history (version, name, "
         "action, run_id) VALUES ('VERSION', 'NAME', 'resolved', 'by hand')";
}

std::optional<config::MigrationsSource> alembic_source(const config::Project& project, const std::string& env) {
  for (const auto& name : config::list_playbooks(project.root)) {
    try {
      auto pb = config::load_playbook(project, name);
      if (pb.migrations.driver == config::Driver::Alembic &&
          std::find(pb.stages.begin(), pb.stages.end(), env) != pb.stages.end())
        return pb.migrations;
    } catch (const Error&) {
    }
  }
  return std::nullopt;
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
    std::string version = steps::is_alembic(ctx) ? migrate::alembic_current(*link.conn) : ledger.current_version();
    ledger.finish_run(ctx.run_id, outcome, version, error, backup_id);
    return true;
  } catch (const Error& e) {
    ctx.reporter.message(report::Level::Warn, std::string("could not record the run's outcome: ") + e.what());
    return false;
  }
}

RollbackChoice choose_rollback(const config::Playbook& pb, const std::vector<migrate::Migration>& pending) {
  bool has_backup = false;
  for (const auto& s : pb.steps) has_backup |= s.kind == config::StepKind::Backup;
  if (pb.on_failure == config::OnFailure::Stop) return {"none", "on_failure: stop"};
  if (pb.migrations.driver == config::Driver::Alembic) {
    if (pb.rollback == config::RollbackMethod::Restore) return {"restore backup", "rollback: restore"};
    return {"alembic downgrade",
            std::string("to the revision before the run") +
                (has_backup && pb.rollback == config::RollbackMethod::Auto ? "; backup restore if it fails" : "")};
  }
  if (pb.rollback == config::RollbackMethod::Restore)
    return {"restore backup", has_backup ? "rollback: restore" : "rollback: restore, but the playbook takes no backup"};
  for (const auto& m : pending) {
    if (m.irreversible)
      return {has_backup ? "restore backup" : "none",
              m.id() + " is irreversible" + std::string(has_backup ? "" : " and the playbook takes no backup")};
  }
  if (pb.rollback == config::RollbackMethod::Auto) {
    for (const auto& m : pending) {
      std::string why = migrate::destroys_data(m.up_sql);
      if (!why.empty() && !m.down_restores_data)
        return {has_backup ? "restore backup" : "down SQL (data loss!)",
                m.id() + " " + why + (has_backup ? "" : "; the playbook takes no backup to bring it back")};
    }
  }
  if (pending.empty()) return {"down SQL", "nothing pending"};
  return {"down SQL", has_backup ? "reversible; backup restore if a down fails" : "reversible"};
}

}  // namespace ferry::run
