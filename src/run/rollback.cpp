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
// True when restored by swap (its row counts already proven).
bool restore_once_more_if_lost(steps::StageContext& ctx, const steps::BackupMeta& b, Session& s,
                               report::Reporter& rep) {
  try {
    return steps::restore_backup(ctx, b);
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
  return steps::restore_backup(ctx, b);
}

// A swap restore killed inside its window may have left the database refusing connections.
void recover_swap(const config::Environment& env, report::Reporter& rep) {
  for (const auto& line : steps::recover_swap_window(env)) rep.message(report::Level::Warn, line);
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
  recover_swap(env, fan);
  std::unique_ptr<Session> s;
  try {
    s = std::make_unique<Session>(env, transports, run_id, SessionWaits{opts.wait_ready, opts.wait_lock}, fan);
  } catch (const Error& e) {
    bool refused = e.kind() == ErrorKind::Refused;
    fan.message(report::Level::Error, (refused ? "refused: " : "") + std::string(e.what()));
    int code = refused ? exit_code::k_refused : exit_code::k_failed_clean;
    fan.stage_summary(command_summary(run_id, "backup", env.name, refused ? "refused" : "failed", code, total.elapsed(),
                                      nullptr, e.what()));
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

// The proof: fingerprint (and, after a restore, row counts) equal to the target backup's. After
// a swap, the row counts were proven on the restored copy before it was swapped in (`swapped`):
// counted again only the fingerprint.
void prove_rollback(steps::StageContext& ctx, const std::optional<steps::BackupMeta>& target, bool restored,
                    bool swapped, report::Reporter& rep) {
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
  auto counts = restored && !swapped ? db::row_counts(ctx.db) : target->row_counts;
  if (fp != target->fingerprint)
    throw Error(ErrorKind::Verify, "proof failed: schema fingerprint " + fp.substr(0, 12) + " differs from backup " +
                                       target->id + "'s " + target->fingerprint.substr(0, 12));
  if (restored && counts != target->row_counts)
    throw Error(ErrorKind::Verify, "proof failed: row counts differ from backup " + target->id + "'s");
  rep.step_finished("proof",
                    "fingerprint " + fp.substr(0, 12) + (restored ? " and row counts" : "") + " equal to backup " +
                        target->id + (swapped ? " (row counts proven on the restored copy before its swap)" : ""),
                    psw.elapsed());
  if (restored) ctx.ledger.settle_applying(ctx.run_id, true);  // nothing of an interrupted migration is left
}

// One `ferry rollback ENV`, in phases: plan (and --dry-run), confirm, open the session, undo
// (revert or restore, then restart and probe), prove, report. Each phase leaves what the next
// one needs in the members; the exit code follows from the error and whether anything changed.
class RollbackRun {
 public:
  RollbackRun(const config::Project& project, const RollbackOptions& opts)
      : m_project(project),
        m_opts(opts),
        m_env(project.environment(opts.env)),
        m_run_id(new_run_id()),
        m_fan(make_rollback_reporter(project, m_run_id, opts, m_doc)),
        m_transports(m_env) {}

  int execute() {
    install_signal_handlers();
    // Webhooks and --metrics-file hear how a rollback ended (not a dry run: nothing happened).
    if (!m_opts.dry_run) add_command_reporters(m_fan, m_project, m_opts.metrics_file);
    m_fan.run_started(m_run_id, "rollback", {m_env.name});
    m_fan.stage_started(m_env.name, target_description(m_env));
    if (!m_opts.dry_run) recover_swap(m_env, m_fan);
    if (auto stop = plan()) return *stop;
    if (auto why = confirm_protected(m_env, m_opts.yes); !why.empty()) return refuse(why);
    if (auto stop = open_session()) return *stop;
    m_sw = Stopwatch();
    try {
      undo();
      prove_rollback(*m_ctx, m_target, m_opts.backup_id.has_value(), m_swapped, m_fan);
    } catch (const Error& e) {
      m_error = e.what();
      m_kind = e.kind();
      m_fan.step_failed("rollback", m_error, m_sw.elapsed());
      if (!e.hint().empty()) m_fan.message(report::Level::Hint, e.hint());
    }
    return finish();
  }

 private:
  // Webhooks and metrics: how it ended (nothing for a dry run).
  void tell(const std::string& outcome, int code, const steps::BackupMeta* b, const std::string& error) {
    if (m_opts.dry_run) return;
    auto sum = command_summary(m_run_id, "rollback", m_env.name, outcome, code, m_total.elapsed(), b, error);
    sum.code_versions = m_ctx ? m_ctx->code_versions : std::map<std::string, std::string>{};
    m_fan.stage_summary(sum);
  }

  int refuse(const std::string& why, int code = exit_code::k_refused) {
    m_fan.message(report::Level::Error, "refused: " + why);
    tell("refused", code, nullptr, why);
    m_fan.run_finished("refused", code, m_total.elapsed());
    return code;
  }

  // Ended before the session: failed (nothing changed) or refused, by `code`.
  int stop_early(const Error& e, int code, bool with_hint = true) {
    bool failed = code == exit_code::k_failed_clean;
    m_fan.message(report::Level::Error, (failed ? "" : "refused: ") + std::string(e.what()));
    if (with_hint && !e.hint().empty()) m_fan.message(report::Level::Hint, e.hint());
    tell(failed ? "failed" : "refused", code, nullptr, e.what());
    m_fan.run_finished(failed ? "failed" : "refused", code, m_total.elapsed());
    return code;
  }

  // The plan, before any confirmation (and all of --dry-run): read on its own connection, no lock.
  std::optional<int> plan() {
    m_pb = rollback_playbook(m_env, m_opts.no_restart);
    try {
      m_pb.migrations = steps::source_for(m_project, m_env.name);
    } catch (const Error& e) {
      return refuse(e.what(), exit_code::k_usage);
    }
    try {
      bool alembic = m_pb.migrations.driver == config::Driver::Alembic;
      if (present_plan(m_env, m_transports, m_opts, alembic, m_fan, m_doc, m_chosen)) {
        m_fan.run_finished("dry run", exit_code::k_ok, m_total.elapsed());
        return exit_code::k_ok;
      }
    } catch (const Error& e) {
      return stop_early(e, plan_exit_code(e, m_opts.dry_run));
    }
    return std::nullopt;
  }

  // The session (lock, ferry.runs row) and the stage context the undo runs in.
  std::optional<int> open_session() {
    try {
      m_session = std::make_unique<Session>(m_env, m_transports, m_run_id,
                                            SessionWaits{m_opts.wait_ready, m_opts.wait_lock}, m_fan);
    } catch (const Error& e) {
      if (e.kind() == ErrorKind::Refused) return refuse(e.what());
      return stop_early(e, exit_code::k_failed_clean, false);
    }
    m_ctx = std::make_unique<steps::StageContext>(m_project, m_pb, m_env, m_session->db(), m_session->ledger(), m_fan,
                                                  m_transports, m_run_id, m_opts.state_dir);
    m_session->record("rollback", steps::current_version(*m_ctx), m_opts.command_line);
    steps::drop_leftover_restores(m_session->db(), m_env, m_fan);
    // services.NAME.version before the first step: in the summary, --json and --report.
    if (auto why = steps::record_code_versions(*m_ctx); !why.empty())
      m_fan.message(report::Level::Warn, "the code version before the rollback is unknown: " + why);
    return std::nullopt;
  }

  // --to: the driver's revert, proven against a backup taken at that version when one exists.
  void revert() {
    m_fan.step_started("down");
    m_fan.step_finished("down", m_ctx->driver->revert_to(*m_ctx, *m_opts.to_version, m_changed), m_sw.elapsed());
    std::string now = steps::current_version(*m_ctx);
    for (const auto& b : list_backups_warning(m_env, m_transports, m_fan))
      if (b.verified && b.version == now && m_ctx->driver->is_version(b.version, *m_opts.to_version)) {
        m_target = b;
        break;
      }
  }

  // --backup: the chosen backup restored in one transaction.
  void restore() {
    m_target = m_chosen;
    m_fan.step_started("restore");
    steps::guard_lock(m_session->ledger());
    m_changed = true;
    try {
      m_swapped = restore_once_more_if_lost(*m_ctx, *m_target, *m_session, m_fan);
    } catch (const steps::RestoreNotApplied&) {
      m_changed = false;  // the restore transaction rolled back: the database is as it was
      throw;
    }
    std::string version = m_target->version.empty() ? "none" : m_target->version;
    m_fan.step_finished("restore", "restored " + m_target->id + " (version " + version + ")", m_sw.elapsed());
  }

  // Revert or restore, then the services restarted and probed.
  void undo() {
    if (m_opts.to_version)
      revert();
    else
      restore();
    for (const auto& spec : m_pb.steps) {
      auto step = steps::make_step(spec);
      Stopwatch ssw;
      m_fan.step_started(step->name());
      std::string summary = step->run(*m_ctx);
      m_fan.step_finished(step->name(), summary, ssw.elapsed());
    }
  }

  int exit_code_now() const {
    if (m_error.empty()) return exit_code::k_ok;
    if (m_changed) return exit_code::k_failed_dirty;
    if (m_kind == ErrorKind::Config) return exit_code::k_usage;
    if (m_kind == ErrorKind::Refused) return exit_code::k_refused;
    return exit_code::k_failed_clean;
  }

  // A rollback that changed something and failed: the newest good backup and how to restore it.
  void advise_human() {
    m_fan.message(report::Level::Error, "the rollback did not complete: a human must act");
    try {
      if (auto good = steps::newest_good_backup(m_env, m_transports)) {
        m_fan.message(report::Level::Hint, "newest backup whose sha256 matches: " + good->file);
        m_fan.message(report::Level::Hint, "restore by hand: " + steps::manual_restore_command(m_env, *good));
      }
    } catch (const Error& e) {
      m_fan.message(report::Level::Warn, std::string("cannot look for a good backup: ") + e.what());
    }
  }

  // The report: ferry.runs, webhooks and metrics, the final lines; the exit code.
  int finish() {
    int code = exit_code_now();
    bool dirty = code == exit_code::k_failed_dirty;
    if (dirty) advise_human();
    record_run_outcome(*m_ctx,
                       m_error.empty() ? "succeeded"
                       : dirty         ? "needs_attention"
                                       : "failed",
                       m_error, m_target ? m_target->id : "");
    std::string outcome = m_error.empty()                                              ? "succeeded"
                          : code == exit_code::k_usage || code == exit_code::k_refused ? "refused"
                                                                                       : "failed";
    tell(dirty ? "needs_attention" : outcome, code, m_target ? &*m_target : nullptr, m_error);
    m_fan.stage_finished(m_env.name, outcome, m_total.elapsed());
    m_fan.run_finished(outcome, code, m_total.elapsed());
    return code;
  }

  const config::Project& m_project;
  const RollbackOptions& m_opts;
  const config::Environment& m_env;
  std::string m_run_id;
  RollbackDocument* m_doc = nullptr;
  report::Fanout m_fan;
  Stopwatch m_total;
  steps::Transports m_transports;
  config::Playbook m_pb;
  std::optional<steps::BackupMeta> m_chosen;  // the plan's backup (--backup)
  std::unique_ptr<Session> m_session;
  std::unique_ptr<steps::StageContext> m_ctx;
  Stopwatch m_sw;  // the undo's step
  std::string m_error;
  ErrorKind m_kind = ErrorKind::Internal;
  bool m_changed = false;
  bool m_swapped = false;                     // restored by swap: row counts proven before the swap
  std::optional<steps::BackupMeta> m_target;  // what the proof compares with
};

}  // namespace

int rollback_environment(const config::Project& project, const RollbackOptions& opts) {
  return RollbackRun(project, opts).execute();
}

}  // namespace ferry::run
