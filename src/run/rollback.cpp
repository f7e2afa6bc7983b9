// `ferry rollback ENV` and `ferry backup ENV`: one-environment runs outside any playbook.
#include <algorithm>
#include <filesystem>

#include "core/error.hpp"
#include "config/loader.hpp"
#include "core/text.hpp"
#include "db/introspect.hpp"
#include "core/interrupt.hpp"
#include "run/command_reports.hpp"
#include "run/rollback_plan.hpp"
#include "run/rollback_report.hpp"
#include "run/runner.hpp"
#include "run/session.hpp"
#include "run/target.hpp"
#include "run/waiting.hpp"
#include "steps/backup.hpp"
#include "steps/restore_swap.hpp"
#include "steps/service.hpp"
#include "steps/step.hpp"

namespace fs = std::filesystem;

namespace ferry::run {

namespace {

std::vector<steps::BackupMeta> list_backups_warning(const config::Environment& env, steps::Transports& transports,
                                                    report::Reporter& rep) {
  std::vector<std::string> warnings;
  auto all = steps::list_backups(env, transports, &warnings);
  for (const auto& w : warnings) rep.message(report::Level::Warn, w);
  return all;
}

// The restore is one transaction: when the server went away under it (a restart, a terminated
// backend), nothing of it was applied. Reconnect, take the lock again, and restore once more.
void restore_once_more_if_lost(steps::StageContext& ctx, const steps::BackupMeta& b, Session& s,
                               report::Reporter& rep) {
  try {
    steps::restore_backup(ctx, b);
    return;
  } catch (const Error& e) {
    if (s.db().alive()) throw;
    rep.message(report::Level::Warn, std::string("the connection was lost during the restore (one transaction: "
                                                 "nothing of it was applied): ") +
                                         e.what());
  }
  s.db().reconnect();
  if (!s.ledger().try_lock())
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
  auto fan = make_reporter(project, run_id, opts.state_dir, opts.report_file, opts.color, opts.quiet, false);
  add_command_reporters(fan, project, opts.metrics_file);  // webhooks, --metrics-file (run/command_reports.*)
  Stopwatch total;
  fan.run_started(run_id, "backup", {env.name});
  fan.stage_started(env.name, target_description(env));
  steps::Transports transports(env);
  std::unique_ptr<Session> s;
  try {
    s = std::make_unique<Session>(env, transports, run_id, SessionWaits{opts.wait_ready, opts.wait_lock}, fan);
  } catch (const Error& e) {
    bool refused = e.kind() == ErrorKind::Refused;
    fan.message(report::Level::Error, (refused ? "refused: " : "") + std::string(e.what()));
    int code = refused ? exit_code::k_refused : exit_code::k_failed_clean;
    fan.stage_summary(command_summary(run_id, "backup", env.name, refused ? "refused" : "failed", code,
                                      total.elapsed(), nullptr, e.what()));
    fan.run_finished(refused ? "refused" : "failed", code, total.elapsed());
    return code;
  }
  config::Playbook none;
  steps::StageContext ctx(project, none, env, s->db(), s->ledger(), fan, transports, run_id, opts.state_dir);
  s->record("backup", steps::current_version(ctx), opts.command_line);
  steps::drop_leftover_restores(s->db(), env, fan);
  Stopwatch sw;
  fan.step_started("backup");
  try {
    auto meta = steps::take_backup(ctx, "backup");
    if (opts.taken_backup_id) *opts.taken_backup_id = meta.id;
    fan.step_finished(
        "backup",
        "verified " + meta.id + " (" + std::to_string(meta.size) + " bytes, sha256 " + meta.sha256.substr(0, 12) + ")",
        sw.elapsed());
    fan.message(report::Level::Info, "file: " + meta.file);
    s->ledger().finish_run(run_id, "succeeded", s->ledger().current_version(), "", meta.id);
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
    s->ledger().finish_run(run_id, "failed", s->ledger().current_version(), e.what());
    fan.stage_finished(env.name, "failed", total.elapsed());
    fan.stage_summary(command_summary(run_id, "backup", env.name, "failed", exit_code::k_failed_clean, total.elapsed(),
                                      nullptr, e.what()));
    fan.run_finished("failed", exit_code::k_failed_clean, total.elapsed());
    return exit_code::k_failed_clean;
  }
}

namespace {

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

// The proof: fingerprint (and, after a restore, row counts) equal to the target backup's.
void prove_rollback(steps::StageContext& ctx, const std::optional<steps::BackupMeta>& target, bool restored,
                    report::Reporter& rep) {
  Stopwatch psw;
  steps::guard_lock(ctx.ledger);
  if (!target) {
    std::string v = steps::current_version(ctx);
    rep.step_finished("proof",
                      ctx.driver->version_noun() + " at " + (v.empty() ? std::string("no version") : v) +
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
  RollbackDocument* doc = nullptr;
  auto fan = make_rollback_reporter(project, run_id, opts, doc);
  // Webhooks and --metrics-file hear how a rollback ended (not a dry run: nothing happened).
  if (!opts.dry_run) add_command_reporters(fan, project, opts.metrics_file);
  Stopwatch total;
  std::map<std::string, std::string> code_versions;  // services.NAME.version before the first step
  auto tell = [&](const std::string& outcome, int code, const steps::BackupMeta* b, const std::string& error) {
    if (opts.dry_run) return;
    auto sum = command_summary(run_id, "rollback", env.name, outcome, code, total.elapsed(), b, error);
    sum.code_versions = code_versions;
    fan.stage_summary(sum);
  };
  fan.run_started(run_id, "rollback", {env.name});
  fan.stage_started(env.name, target_description(env));
  auto refuse = [&](const std::string& why, int code = exit_code::k_refused) {
    fan.message(report::Level::Error, "refused: " + why);
    tell("refused", code, nullptr, why);
    fan.run_finished("refused", code, total.elapsed());
    return code;
  };
  config::Playbook pb = rollback_playbook(env, opts.no_restart);
  try {
    pb.migrations = steps::source_for(project, env.name);
  } catch (const Error& e) {
    return refuse(e.what(), exit_code::k_usage);
  }
  steps::Transports transports(env);
  // The plan, before any confirmation (and all of --dry-run): read on its own connection, no lock.
  std::optional<steps::BackupMeta> chosen;
  try {
    if (present_plan(env, transports, opts, pb.migrations.driver == config::Driver::Alembic, fan, doc, chosen)) {
      fan.run_finished("dry run", exit_code::k_ok, total.elapsed());
      return exit_code::k_ok;
    }
  } catch (const Error& e) {
    int code = plan_exit_code(e, opts.dry_run);
    fan.message(report::Level::Error, (code == exit_code::k_failed_clean ? "" : "refused: ") + std::string(e.what()));
    if (!e.hint().empty()) fan.message(report::Level::Hint, e.hint());
    tell(code == exit_code::k_failed_clean ? "failed" : "refused", code, nullptr, e.what());
    fan.run_finished(code == exit_code::k_failed_clean ? "failed" : "refused", code, total.elapsed());
    return code;
  }
  if (auto why = confirm_protected(env, opts.yes); !why.empty()) return refuse(why);
  std::unique_ptr<Session> s;
  try {
    s = std::make_unique<Session>(env, transports, run_id, SessionWaits{opts.wait_ready, opts.wait_lock}, fan);
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::Refused) return refuse(e.what());
    fan.message(report::Level::Error, e.what());
    tell("failed", exit_code::k_failed_clean, nullptr, e.what());
    fan.run_finished("failed", exit_code::k_failed_clean, total.elapsed());
    return exit_code::k_failed_clean;
  }
  steps::StageContext ctx(project, pb, env, s->db(), s->ledger(), fan, transports, run_id, opts.state_dir);
  s->record("rollback", steps::current_version(ctx), opts.command_line);
  steps::drop_leftover_restores(s->db(), env, fan);
  if (auto why = steps::record_code_versions(ctx); !why.empty())
    fan.message(report::Level::Warn, "the code version before the rollback is unknown: " + why);
  code_versions = ctx.code_versions;
  std::string error;
  ErrorKind kind = ErrorKind::Internal;
  bool changed = false;
  std::optional<steps::BackupMeta> target_backup;
  Stopwatch sw;
  try {
    if (opts.to_version) {
      fan.step_started("down");
      fan.step_finished("down", ctx.driver->revert_to(ctx, *opts.to_version, changed), sw.elapsed());
      // Prove against a backup taken at that version, when one exists.
      std::string now = steps::current_version(ctx);
      for (const auto& b : list_backups_warning(env, transports, fan))
        if (b.verified && b.version == now && ctx.driver->is_version(b.version, *opts.to_version)) {
          target_backup = b;
          break;
        }
    } else {
      target_backup = chosen;
      fan.step_started("restore");
      steps::guard_lock(s->ledger());
      changed = true;
      try {
        restore_once_more_if_lost(ctx, *target_backup, *s, fan);
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
  tell(code == exit_code::k_failed_dirty ? "needs_attention" : outcome, code, target_backup ? &*target_backup : nullptr,
       error);
  fan.stage_finished(env.name, outcome, total.elapsed());
  fan.run_finished(outcome, code, total.elapsed());
  return code;
}

}  // namespace ferry::run
