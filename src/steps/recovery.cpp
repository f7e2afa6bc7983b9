#include "steps/recovery.hpp"

#include "steps/backup.hpp"

namespace ferry::steps {

db::ConnectParams connect_params(const config::Environment& env, const std::string& dbname) {
  db::ConnectParams p;
  p.host = env.database.host;
  p.port = env.database.port;
  p.dbname = dbname;
  p.user = env.database.user;
  p.password = env.database.password;
  p.sslmode = env.database.sslmode;
  p.connect_timeout_s = env.database.connect_timeout_s;
  return p;
}

bool recover_connection(StageContext& ctx) {
  if (ctx.db.alive()) return true;
  Stopwatch sw;
  auto& rep = ctx.reporter;
  rep.message(report::Level::Warn, "the connection to PostgreSQL was lost; reconnecting");
  try {
    ctx.db.reconnect();
  } catch (const Error& e) {
    rep.step_compensated("database", false, e.what(), sw.elapsed());
    return false;
  }
  if (!ctx.ledger.try_lock()) {
    rep.step_compensated("database", false,
                         "reconnected, but another session took the lock while the connection was lost", sw.elapsed());
    return false;
  }
  if (auto n = ctx.ledger.runs_started_after(ctx.run_id); n > 0) {
    ctx.ledger.unlock();
    rep.step_compensated("database", false,
                         "reconnected, but " + std::to_string(n) +
                             " other run(s) started on this database while the connection was lost",
                         sw.elapsed());
    return false;
  }
  ctx.reconnected = true;
  ctx.driver->after_reconnect(ctx);
  rep.message(report::Level::Info,
              "reconnected; this run's migrations in the ledger: " + std::to_string(ctx.applied_this_run.size()));
  return true;
}

bool restore_run_backup(StageContext& ctx, const std::string& why) {
  Stopwatch sw;
  auto& rep = ctx.reporter;
  if (!ctx.backup) {
    rep.step_compensated("database", false, "a restore is needed (" + why + ") but this run took no backup",
                         sw.elapsed());
    return false;
  }
  for (int attempt = 1;; ++attempt) {
    try {
      restore_backup(ctx, *ctx.backup);
      ctx.applied_this_run.clear();
      ctx.database_as_before = true;
      ctx.restored = true;
      rep.step_compensated("database", true, "restored backup " + ctx.backup->id + " (" + why + ")", sw.elapsed());
      return true;
    } catch (const Error& e) {
      // The restore is one transaction: when the server went away under it, nothing of it
      // was applied, and it can run again once the server is back.
      bool lost = attempt == 1 && !ctx.db.alive();
      rep.step_compensated("database", false, std::string("restore failed: ") + e.what(), sw.elapsed());
      if (!lost || !recover_connection(ctx)) return false;
      rep.message(report::Level::Warn,
                  "the connection was lost during the restore (one transaction: nothing "
                  "of it was applied); restoring again");
    }
  }
}

}  // namespace ferry::steps
