// `ferry rollback ENV` and `ferry backup ENV`: one-environment runs outside any playbook.
#include <filesystem>

#include "core/error.hpp"
#include "core/text.hpp"
#include "db/introspect.hpp"
#include "run/interrupt.hpp"
#include "run/runner.hpp"
#include "run/target.hpp"
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

// Opens the session: connect, lock (refusal -> exit 3 via Error(Refused)), schema, run row.
void open_session(Session& s, const config::Environment& env, steps::Transports& transports, const std::string& run_id,
                  const std::string& what, const std::string& command_line, report::Reporter& rep) {
  Stopwatch sw;
  s.link = connect(env, &transports);
  s.conn = s.link.conn.get();
  s.ledger = std::make_unique<db::Ledger>(*s.conn);
  if (!s.ledger->try_lock()) {
    auto holder = s.ledger->lock_holder();
    s.ledger.reset();
    throw Error(ErrorKind::Refused, "environment '" + env.name + "' is locked by " +
                                        (holder ? holder->describe() : std::string("another session")));
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
  rec.version_before = s.ledger->current_version();
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
  Stopwatch total;
  fan.run_started(run_id, "backup", {env.name});
  fan.stage_started(env.name, target_description(env));
  steps::Transports transports(env);
  Session s;
  try {
    open_session(s, env, transports, run_id, "backup", opts.command_line, fan);
  } catch (const Error& e) {
    fan.message(report::Level::Error, e.what());
    int code = e.kind() == ErrorKind::Refused ? exit_code::k_refused : exit_code::k_failed_clean;
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
    fan.run_finished("succeeded", 0, total.elapsed());
    return 0;
  } catch (const Error& e) {
    fan.step_failed("backup", e.what(), sw.elapsed());
    s.ledger->finish_run(run_id, "failed", s.ledger->current_version(), e.what());
    fan.stage_finished(env.name, "failed", total.elapsed());
    fan.run_finished("failed", exit_code::k_failed_clean, total.elapsed());
    return exit_code::k_failed_clean;
  }
}

int rollback_environment(const config::Project& project, const RollbackOptions& opts) {
  const auto& env = project.environment(opts.env);
  std::string run_id = new_run_id();
  install_signal_handlers();
  auto fan = make_reporter(project, run_id, opts.state_dir, "", opts.color, opts.quiet, false);
  Stopwatch total;
  fan.run_started(run_id, "rollback", {env.name});
  fan.stage_started(env.name, target_description(env));
  auto refuse = [&](const std::string& why) {
    fan.message(report::Level::Error, "refused: " + why);
    fan.run_finished("refused", exit_code::k_refused, total.elapsed());
    return exit_code::k_refused;
  };
  if (auto why = confirm_protected(env, opts.yes); !why.empty()) return refuse(why);
  steps::Transports transports(env);
  Session s;
  try {
    open_session(s, env, transports, run_id, "rollback", opts.command_line, fan);
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::Refused) return refuse(e.what());
    fan.message(report::Level::Error, e.what());
    fan.run_finished("failed", exit_code::k_failed_clean, total.elapsed());
    return exit_code::k_failed_clean;
  }
  config::Playbook pb;  // services of the environment, restarted and probed
  pb.name = "rollback";
  std::vector<config::StepSpec> specs;
  for (const auto& [name, svc] : env.services) {
    if (!svc.restart.empty() && !opts.no_restart) {
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
  steps::StageContext ctx(project, pb, env, *s.conn, *s.ledger, fan, transports, run_id, opts.state_dir);
  std::string error;
  bool changed = false;
  std::optional<steps::BackupMeta> target_backup;
  Stopwatch sw;
  try {
    if (opts.to_version) {
      fan.step_started("down");
      auto applied = s.ledger->applied();
      bool known = opts.to_version == std::string("0");
      for (const auto& a : applied) known |= migrate::compare_versions(a.version, *opts.to_version) == 0;
      if (!known && !applied.empty())
        throw Error(ErrorKind::Config, "version '" + *opts.to_version + "' is not applied in '" + env.name + "'",
                    "see `ferry history " + env.name + "`; --to 0 reverts everything");
      for (const auto& a : applied)
        if (migrate::compare_versions(a.version, *opts.to_version) > 0) ctx.applied_this_run.push_back(a);
      if (ctx.applied_this_run.empty()) {
        fan.step_finished("down", "already at " + *opts.to_version, sw.elapsed());
      } else {
        changed = true;
        size_t before = ctx.applied_this_run.size();
        std::string summary = [&] {
          try {
            return steps::revert_migrations(ctx);
          } catch (const Error&) {
            changed = ctx.applied_this_run.size() != before;  // a failed down rolled back: reverted none
            throw;
          }
        }();
        fan.step_finished("down", summary + ", now at " + s.ledger->current_version(), sw.elapsed());
      }
      // Prove against a backup taken at that version, when one exists.
      for (const auto& b : list_backups_warning(env, transports, fan))
        if (b.verified && migrate::compare_versions(b.version, *opts.to_version) == 0 &&
            b.version == s.ledger->current_version()) {
          target_backup = b;
          break;
        }
    } else {
      target_backup = pick_backup(env, transports, fan, *opts.backup_id);
      fan.step_started("restore");
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
    Stopwatch psw;
    if (target_backup) {
      std::string fp = db::schema_fingerprint(*s.conn);
      auto counts = db::row_counts(*s.conn);
      if (fp != target_backup->fingerprint)
        throw Error(ErrorKind::Verify, "proof failed: schema fingerprint " + fp.substr(0, 12) +
                                           " differs from backup " + target_backup->id + "'s " +
                                           target_backup->fingerprint.substr(0, 12));
      if (opts.backup_id && counts != target_backup->row_counts)
        throw Error(ErrorKind::Verify, "proof failed: row counts differ from backup " + target_backup->id + "'s");
      fan.step_finished("proof",
                        "fingerprint " + fp.substr(0, 12) + (opts.backup_id ? " and row counts" : "") +
                            " equal to backup " + target_backup->id,
                        psw.elapsed());
      if (opts.backup_id) s.ledger->settle_applying(run_id, true);  // nothing of an interrupted migration is left
    } else {
      fan.step_finished(
          "proof",
          "ledger at " +
              (s.ledger->current_version().empty() ? std::string("no version") : s.ledger->current_version()) +
              "; no backup at that version to compare the schema with",
          psw.elapsed());
    }
  } catch (const Error& e) {
    error = e.what();
    fan.step_failed("rollback", error, sw.elapsed());
    if (!e.hint().empty()) fan.message(report::Level::Hint, e.hint());
  }
  int code = error.empty() ? exit_code::k_ok : changed ? exit_code::k_failed_dirty : exit_code::k_failed_clean;
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
  try {
    s.ledger->finish_run(run_id,
                         error.empty() ? "succeeded"
                         : code == 2   ? "needs_attention"
                                       : "failed",
                         s.ledger->current_version(), error, target_backup ? target_backup->id : "");
  } catch (const Error&) {
  }
  fan.stage_finished(env.name, error.empty() ? "succeeded" : "failed", total.elapsed());
  fan.run_finished(error.empty() ? "succeeded" : "failed", code, total.elapsed());
  return code;
}

}  // namespace ferry::run
