// `ferry rollback ENV` and `ferry backup ENV`: one-environment runs outside any playbook.
#include <algorithm>
#include <filesystem>

#include "core/error.hpp"
#include "config/loader.hpp"
#include "core/text.hpp"
#include "migrate/alembic.hpp"
#include "db/introspect.hpp"
#include "run/command_reports.hpp"
#include "run/interrupt.hpp"
#include "run/runner.hpp"
#include "run/target.hpp"
#include "run/waiting.hpp"
#include "steps/backup.hpp"
#include "steps/service.hpp"
#include "steps/step.hpp"

namespace fs = std::filesystem;

namespace ferry::run {

namespace {

// Holds the lock and the ferry.runs row of a one-environment operation.
struct Session {
  DbLink link;
  db::Connection* conn = nullptr;
  std::unique_ptr<db::Ledger> ledger;
  ~Session() {
    set_cancel_target(nullptr);
    if (ledger) ledger->unlock();
  }
};

struct Waits {
  Millis lock{0};
  Millis ready{0};
};

// Opens the session: connect, lock (refusal -> exit 3 via Error(Refused)), schema, run row.
void open_session(Session& s, const config::Environment& env, steps::Transports& transports, const std::string& run_id,
                  const std::string& what, const std::string& command_line, report::Reporter& rep, Waits waits,
                  bool alembic = false) {
  Stopwatch sw;
  s.link = connect_when_ready(env, &transports, waits.ready, rep);
  s.conn = s.link.conn.get();
  s.ledger = std::make_unique<db::Ledger>(*s.conn);
  if (!lock_waiting(*s.ledger, env.name, waits.lock, rep)) {
    std::string why = locked_message(*s.ledger, env.name, waits.lock);
    s.ledger.reset();
    throw Error(ErrorKind::Refused, why);
  }
  set_cancel_target(s.conn);
  s.ledger->ensure_schema();
  report_abandoned_runs(*s.ledger, rep, env.name);
  db::RunRecord rec;
  rec.id = run_id;
  rec.playbook = what;
  rec.environment = env.name;
  rec.operator_name = operator_name();
  rec.host = host_name();
  rec.version_before = alembic ? migrate::alembic_current(*s.conn) : s.ledger->current_version();
  rec.command = command_line;
  s.ledger->insert_run(rec);
  rep.step_finished("lock", "held by run " + run_id, sw.elapsed());
}

std::vector<steps::BackupMeta> list_backups_warning(const config::Environment& env, steps::Transports& transports,
                                                    report::Reporter& rep) {
  std::vector<std::string> warnings;
  auto all = steps::list_backups(env, transports, &warnings);
  for (const auto& w : warnings) rep.message(report::Level::Warn, w);
  return all;
}

// The backup `--backup ID|latest` names, refused (nothing changed) when it is another
// environment's, unknown, or its file does not match its sha256.
steps::BackupMeta pick_backup(const config::Environment& env, steps::Transports& transports, report::Reporter& rep,
                              const std::string& wanted) {
  if (wanted != "latest" && !steps::valid_backup_id(env.name, wanted))
    throw Error(ErrorKind::Config,
                "'" + wanted + "' is not a backup of environment '" + env.name + "' (its backups are " + env.name +
                    "-YYYYMMDDTHHMMSSZ-XXXX)",
                "list them with `ferry backups " + env.name + "`");
  std::optional<steps::BackupMeta> found;
  for (const auto& b : list_backups_warning(env, transports, rep))
    if (b.verified && (wanted == "latest" || b.id == wanted)) {
      found = b;
      break;
    }
  if (!found)
    throw Error(ErrorKind::Config, "no verified backup '" + wanted + "' for '" + env.name + "'",
                "list them with `ferry backups " + env.name + "`");
  if (auto why = steps::check_backup_file(env, transports, *found); !why.empty()) {
    auto good = steps::newest_good_backup(env, transports, found->id);
    throw Error(ErrorKind::Command, "backup " + found->id + " cannot be restored: " + why + "; nothing was changed",
                good ? "a good backup of " + env.name + " (its sha256 matches): " + good->id +
                           "; restore it with `ferry rollback " + env.name + " --backup " + good->id + "`"
                     : "no backup of " + env.name + " matches its sha256");
  }
  return *found;
}

// The restore is one transaction: when the server went away under it (a restart, a terminated
// backend), nothing of it was applied. Reconnect, take the lock again, and restore once more.
void restore_once_more_if_lost(steps::StageContext& ctx, const steps::BackupMeta& b, Session& s,
                               report::Reporter& rep) {
  try {
    steps::restore_backup(ctx, b);
    return;
  } catch (const Error& e) {
    if (s.conn->alive()) throw;
    rep.message(report::Level::Warn, std::string("the connection was lost during the restore (one transaction: "
                                                 "nothing of it was applied): ") +
                                         e.what());
  }
  s.conn->reconnect();
  if (!s.ledger->try_lock())
    throw Error(ErrorKind::Command, "reconnected, but another session took the lock while the connection was lost");
  rep.message(report::Level::Info, "reconnected; restoring again");
  steps::restore_backup(ctx, b);
}

}  // namespace

int backup_environment(const config::Project& project, const std::string& env_name, const RunOptions& opts) {
  const auto& env = project.environment(env_name);
  if (!env.backup)
    throw Error(ErrorKind::Config, env.file + ": no 'backup:' section; ferry does not know where to keep backups");
  std::string run_id = new_run_id();
  install_signal_handlers();
  auto fan = make_reporter(project, run_id, opts.state_dir, "", opts.color, opts.quiet, false);
  add_command_reporters(fan, project, opts.metrics_file);  // webhooks, --metrics-file (run/command_reports.*)
  Stopwatch total;
  fan.run_started(run_id, "backup", {env.name});
  fan.stage_started(env.name, target_description(env));
  steps::Transports transports(env);
  Session s;
  try {
    open_session(s, env, transports, run_id, "backup", opts.command_line, fan, {opts.wait_lock, opts.wait_ready});
  } catch (const Error& e) {
    fan.message(report::Level::Error, e.what());
    int code = e.kind() == ErrorKind::Refused ? exit_code::k_refused : exit_code::k_failed_clean;
    fan.stage_summary(command_summary(run_id, "backup", env.name, code == exit_code::k_refused ? "refused" : "failed",
                                      code, total.elapsed(), nullptr, e.what()));
    fan.run_finished("refused", code, total.elapsed());
    return code;
  }
  config::Playbook none;
  steps::StageContext ctx(project, none, env, *s.conn, *s.ledger, fan, transports, run_id, opts.state_dir);
  Stopwatch sw;
  fan.step_started("backup");
  try {
    auto meta = steps::take_backup(ctx, "backup");
    fan.step_finished(
        "backup",
        "verified " + meta.id + " (" + std::to_string(meta.size) + " bytes, sha256 " + meta.sha256.substr(0, 12) + ")",
        sw.elapsed());
    fan.message(report::Level::Info, "file: " + meta.file);
    s.ledger->finish_run(run_id, "succeeded", s.ledger->current_version(), "", meta.id);
    std::vector<std::string> warnings;
    int n = steps::prune_backups(env, transports, &warnings);
    for (const auto& w : warnings) fan.message(report::Level::Warn, w);
    if (n > 0) fan.message(report::Level::Info, "pruned " + std::to_string(n) + " old backup(s)");
    fan.stage_finished(env.name, "succeeded", total.elapsed());
    fan.stage_summary(command_summary(run_id, "backup", env.name, "succeeded", 0, total.elapsed(), &meta));
    fan.run_finished("succeeded", 0, total.elapsed());
    return 0;
  } catch (const Error& e) {
    fan.step_failed("backup", e.what(), sw.elapsed());
    s.ledger->finish_run(run_id, "failed", s.ledger->current_version(), e.what());
    fan.stage_finished(env.name, "failed", total.elapsed());
    fan.stage_summary(command_summary(run_id, "backup", env.name, "failed", exit_code::k_failed_clean, total.elapsed(),
                                      nullptr, e.what()));
    fan.run_finished("failed", exit_code::k_failed_clean, total.elapsed());
    return exit_code::k_failed_clean;
  }
}

namespace {

constexpr const char* k_lock_lost = "ferry's database session was lost, and with it the lock";

// Stops when the lock is no longer ours: another ferry may be at work.
void guard_lock(db::Ledger& ledger) {
  if (!ledger.lock_held())
    throw Error(ErrorKind::Database, k_lock_lost, "nothing more is changed; check `ferry status` and `ferry history`");
}

// The services of the environment, restarted (unless --no-restart) and probed.
config::Playbook rollback_playbook(const config::Environment& env, bool no_restart) {
  config::Playbook pb;
  pb.name = "rollback";
  for (const auto& [name, svc] : env.services) {
    if (!svc.restart.empty() && !no_restart) {
      config::StepSpec r;
      r.kind = config::StepKind::Restart;
      r.service = name;
      pb.steps.push_back(r);
    }
    if (svc.health) {
      config::StepSpec h;
      h.kind = config::StepKind::Health;
      h.service = name;
      pb.steps.push_back(h);
    }
  }
  return pb;
}

// Native --to: stored down SQL of every applied migration newer than `to`; `changed` when it changed something.
void revert_native_to(steps::StageContext& ctx, const std::string& to, report::Reporter& rep, Stopwatch& sw,
                      bool& changed) {
  auto applied = ctx.ledger.applied();
  bool known = to == "0";
  for (const auto& a : applied) known |= migrate::compare_versions(a.version, to) == 0;
  if (!known)
    throw Error(ErrorKind::Config, "version '" + to + "' is not applied in '" + ctx.env.name + "'",
                "see `ferry history " + ctx.env.name + "`; --to 0 reverts everything");
  for (const auto& a : applied)
    if (migrate::compare_versions(a.version, to) > 0) ctx.applied_this_run.push_back(a);
  if (ctx.applied_this_run.empty()) {
    rep.step_finished("down", "already at " + to, sw.elapsed());
    return;
  }
  guard_lock(ctx.ledger);
  changed = true;
  size_t before = ctx.applied_this_run.size();
  std::string summary;
  try {
    summary = steps::revert_migrations(ctx);
  } catch (const Error&) {
    changed = ctx.applied_this_run.size() != before;  // a failed down rolled back: reverted none
    throw;
  }
  rep.step_finished("down", summary + ", now at " + ctx.ledger.current_version(), sw.elapsed());
}

// Alembic --to: `alembic downgrade REV` where the application lives; `changed` when it may have changed something.
void downgrade_alembic_to(steps::StageContext& ctx, const std::string& to, report::Reporter& rep, Stopwatch& sw,
                          bool& changed) {
  const auto& src = ctx.playbook.migrations;
  auto& t = ctx.transports.get(src.on);
  auto chain = migrate::alembic_history(t, src);
  std::string target = to == "0" ? "base" : to;
  std::string now = migrate::alembic_current(ctx.db);
  migrate::alembic_pending(chain, now);  // a revision the scripts do not know: drift, refused
  bool known = target == "base";
  for (const auto& r : chain) known |= r.id == target;
  if (!known)
    throw Error(ErrorKind::Config, "alembic revision '" + to + "' is not in the history of '" + ctx.env.name + "'",
                "see `alembic history`; --to base downgrades everything");
  if (target != "base" && !migrate::alembic_reached(chain, now, target))
    throw Error(ErrorKind::Config,
                "'" + ctx.env.name + "' is at alembic revision '" + (now.empty() ? std::string("base") : now) +
                    "', before '" + to + "': rollback only goes back",
                "to upgrade, run a playbook");
  if (now.empty() || now == target) {
    rep.step_finished("down", "already at " + target, sw.elapsed());
    return;
  }
  guard_lock(ctx.ledger);
  changed = true;  // a failed downgrade may have done part of its work
  migrate::alembic_run(t, src, "downgrade " + target, std::nullopt);
  auto undone = migrate::alembic_pending(chain, target == "base" ? "" : target);
  for (auto it = undone.rbegin(); it != undone.rend(); ++it) {
    if (migrate::alembic_reached(chain, now, it->id))
      ctx.db.exec_params("INSERT INTO ferry.history (version, name, action, run_id) VALUES ($1, $2, 'reverted', $3)",
                         {it->id, it->message, ctx.run_id});
  }
  std::string after = migrate::alembic_current(ctx.db);
  rep.step_finished(
      "down",
      "alembic downgrade " + target + " (from " + now + "), now at " + (after.empty() ? std::string("base") : after),
      sw.elapsed());
}

// The proof: fingerprint (and, after a restore, row counts) equal to the target backup's.
void prove_rollback(steps::StageContext& ctx, const std::optional<steps::BackupMeta>& target, bool restored,
                    report::Reporter& rep) {
  Stopwatch psw;
  guard_lock(ctx.ledger);
  if (!target) {
    std::string v = steps::current_version(ctx);
    rep.step_finished("proof",
                      std::string(steps::is_alembic(ctx) ? "alembic revision " : "ledger ") + "at " +
                          (v.empty() ? std::string("no version") : v) +
                          "; no backup at that version to compare the schema with",
                      psw.elapsed());
    return;
  }
  std::string fp = db::schema_fingerprint(ctx.db);
  auto counts = db::row_counts(ctx.db);
  if (fp != target->fingerprint)
    throw Error(ErrorKind::Verify, "proof failed: schema fingerprint " + fp.substr(0, 12) + " differs from backup " +
                                       target->id + "'s " + target->fingerprint.substr(0, 12));
  if (restored && counts != target->row_counts)
    throw Error(ErrorKind::Verify, "proof failed: row counts differ from backup " + target->id + "'s");
  rep.step_finished(
      "proof",
      "fingerprint " + fp.substr(0, 12) + (restored ? " and row counts" : "") + " equal to backup " + target->id,
      psw.elapsed());
  if (restored) ctx.ledger.settle_applying(ctx.run_id, true);  // nothing of an interrupted migration is left
}

}  // namespace

int rollback_environment(const config::Project& project, const RollbackOptions& opts) {
  const auto& env = project.environment(opts.env);
  std::string run_id = new_run_id();
  install_signal_handlers();
  auto fan = make_reporter(project, run_id, opts.state_dir, "", opts.color, opts.quiet, false);
  Stopwatch total;
  fan.run_started(run_id, "rollback", {env.name});
  fan.stage_started(env.name, target_description(env));
  auto refuse = [&](const std::string& why, int code = exit_code::k_refused) {
    fan.message(report::Level::Error, "refused: " + why);
    fan.run_finished("refused", code, total.elapsed());
    return code;
  };
  if (auto why = confirm_protected(env, opts.yes); !why.empty()) return refuse(why);
  config::Playbook pb = rollback_playbook(env, opts.no_restart);
  try {
    if (auto src = alembic_source(project, env.name)) pb.migrations = *src;
  } catch (const Error& e) {
    return refuse(e.what(), exit_code::k_usage);
  }
  steps::Transports transports(env);
  Session s;
  try {
    open_session(s, env, transports, run_id, "rollback", opts.command_line, fan, {opts.wait_lock, opts.wait_ready},
                 pb.migrations.driver == config::Driver::Alembic);
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::Refused) return refuse(e.what());
    fan.message(report::Level::Error, e.what());
    fan.run_finished("failed", exit_code::k_failed_clean, total.elapsed());
    return exit_code::k_failed_clean;
  }
  steps::StageContext ctx(project, pb, env, *s.conn, *s.ledger, fan, transports, run_id, opts.state_dir);
  std::string error;
  ErrorKind kind = ErrorKind::Internal;
  bool changed = false;
  std::optional<steps::BackupMeta> target_backup;
  Stopwatch sw;
  try {
    if (opts.to_version) {
      fan.step_started("down");
      if (steps::is_alembic(ctx))
        downgrade_alembic_to(ctx, *opts.to_version, fan, sw, changed);
      else
        revert_native_to(ctx, *opts.to_version, fan, sw, changed);
      // Prove against a backup taken at that version, when one exists.
      std::string now = steps::current_version(ctx);
      for (const auto& b : list_backups_warning(env, transports, fan))
        if (b.verified && b.version == now &&
            (steps::is_alembic(ctx)
                 ? b.version == (*opts.to_version == "base" || *opts.to_version == "0" ? "" : *opts.to_version)
                 : migrate::compare_versions(b.version, *opts.to_version) == 0)) {
          target_backup = b;
          break;
        }
    } else {
      target_backup = pick_backup(env, transports, fan, *opts.backup_id);
      fan.step_started("restore");
      guard_lock(*s.ledger);
      changed = true;
      try {
        restore_once_more_if_lost(ctx, *target_backup, s, fan);
      } catch (const steps::RestoreNotApplied&) {
        changed = false;  // the restore transaction rolled back: the database is as it was
        throw;
      }
      fan.step_finished("restore",
                        "restored " + target_backup->id + " (version " +
                            (target_backup->version.empty() ? "none" : target_backup->version) + ")",
                        sw.elapsed());
    }
    for (const auto& spec : pb.steps) {
      auto step = steps::make_step(spec);
      Stopwatch ssw;
      fan.step_started(step->name());
      std::string summary = step->run(ctx);
      fan.step_finished(step->name(), summary, ssw.elapsed());
    }
    prove_rollback(ctx, target_backup, opts.backup_id.has_value(), fan);
  } catch (const Error& e) {
    error = e.what();
    kind = e.kind();
    fan.step_failed("rollback", error, sw.elapsed());
    if (!e.hint().empty()) fan.message(report::Level::Hint, e.hint());
  }
  int code = error.empty()                ? exit_code::k_ok
             : changed                    ? exit_code::k_failed_dirty
             : kind == ErrorKind::Config  ? exit_code::k_usage
             : kind == ErrorKind::Refused ? exit_code::k_refused
                                          : exit_code::k_failed_clean;
  if (code == exit_code::k_failed_dirty) {
    fan.message(report::Level::Error, "the rollback did not complete: a human must act");
    try {
      if (auto good = steps::newest_good_backup(env, transports)) {
        fan.message(report::Level::Hint, "newest backup whose sha256 matches: " + good->file);
        fan.message(report::Level::Hint, "restore by hand: " + steps::manual_restore_command(env, *good));
      }
    } catch (const Error& e) {
      fan.message(report::Level::Warn, std::string("cannot look for a good backup: ") + e.what());
    }
  }
  record_run_outcome(ctx,
                     error.empty()                       ? "succeeded"
                     : code == exit_code::k_failed_dirty ? "needs_attention"
                                                         : "failed",
                     error, target_backup ? target_backup->id : "");
  std::string outcome = error.empty() ? "succeeded" : code == exit_code::k_usage || code == 3 ? "refused" : "failed";
  fan.stage_finished(env.name, outcome, total.elapsed());
  fan.run_finished(outcome, code, total.elapsed());
  return code;
}

}  // namespace ferry::run
