#include "run/runner.hpp"

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <iostream>

#include "core/error.hpp"
#include "core/text.hpp"
#include "db/introspect.hpp"
#include "migrate/sql_parser.hpp"
#include "core/interrupt.hpp"
#include "run/early_connect.hpp"
#include "run/fleet.hpp"
#include "run/proof.hpp"
#include "run/hooks.hpp"
#include "run/preflight.hpp"
#include "steps/baseline.hpp"
#include "run/saga.hpp"
#include "run/session.hpp"
#include "run/stage_saga.hpp"
#include "run/stage_plan.hpp"
#include "run/waiting.hpp"
#include "run/summary.hpp"
#include "run/target.hpp"
#include "steps/backup.hpp"
#include "steps/backup_pins.hpp"
#include "steps/notify.hpp"
#include "steps/recovery.hpp"
#include "steps/service.hpp"
#include "steps/step.hpp"

namespace fs = std::filesystem;

namespace ferry::run {

namespace {

struct StageOutcome {
  int exit_code = 0;
  std::string outcome;  // succeeded | rolled back | failed | refused | needs attention
  std::string error;
};

class StageRunner {
 public:
  StageRunner(const config::Project& project, const config::Playbook& pb, const config::Environment& env,
              report::Reporter& rep, const std::string& run_id, const RunOptions& opts,
              const std::vector<migrate::Migration>& files, EarlyConnection& early)
      : m_project(project),
        m_pb(pb),
        m_env(env),
        m_rep(rep),
        m_run_id(run_id),
        m_opts(opts),
        m_files(files),
        m_early(early) {}

  StageOutcome run() {
    Stopwatch sw;
    m_rep.stage_started(m_env.name, target_description(m_env));
    auto out = run_inner();
    m_rep.stage_finished(m_env.name, out.outcome, sw.elapsed());
    m_sum.run_id = m_run_id;
    m_sum.playbook = m_pb.name;
    m_sum.environment = m_env.name;
    m_sum.outcome = outcome_id(out.outcome);
    m_sum.exit_code = out.exit_code;
    m_sum.error = out.error;
    m_sum.took = sw.elapsed();
    m_rep.stage_summary(m_sum);
    run_hooks(m_project, m_pb, m_env, m_sum, m_rep);  // on_failure: and finally: (run/hooks.*)
    return out;
  }

 private:
  StageOutcome refuse(const std::string& why, const std::string& hint = "") {
    m_rep.message(report::Level::Error, "refused: " + why);
    if (!hint.empty()) m_rep.message(report::Level::Hint, hint);
    return {exit_code::k_refused, "refused", why};
  }

  // The stage's plan (the same function `ferry plan` uses), and its refusal if any.
  std::optional<StageOutcome> plan(steps::StageContext& ctx) {
    auto& driver = *ctx.driver;
    Stopwatch sw;
    StagePlan sp;
    try {
      sp = plan_stage(m_project, m_env, driver, ctx.db, ctx.ledger);
    } catch (const Error& e) {
      if (e.kind() == ErrorKind::Refused) return refuse(e.what());
      m_rep.step_failed(driver.read_label().empty() ? "migrations" : driver.read_label(), e.what(), sw.elapsed());
      return StageOutcome{exit_code::k_failed_clean, "failed", e.what()};
    }
    ctx.state = sp.state;
    if (!driver.read_label().empty())
      m_rep.step_finished(driver.read_label(), driver.describe(ctx.state), sw.elapsed());
    if (sp.refusal) return refuse(sp.refusal->message, sp.refusal->hint);
    if (sp.gate_checked) {
      std::string reqs;
      for (const auto& r : m_env.requires_envs) reqs += (reqs.empty() ? "" : ", ") + r;
      m_rep.step_finished("gate", "open: " + std::to_string(ctx.state.pending.size()) + " pending verified in " + reqs,
                          sw.elapsed());
    }
    return std::nullopt;
  }

  // Unaccepted high findings and the read-only preflight, before the first change. The lint runs
  // on a thread while the baseline is read; a protected environment, which the preflight may
  // refuse, is preflighted before the baseline is read, so that a refusal does not wait for it.
  std::optional<StageOutcome> baseline_and_preflight(steps::StageContext& ctx) {
    auto linting = start_lint(ctx);
    if (m_env.is_protected)
      if (auto pf = preflight(ctx, m_rep, std::move(linting)); !pf.refusal.empty()) return refuse(pf.refusal, pf.hint);
    if (auto failed = take_baseline(ctx)) return *failed;
    if (linting.valid()) preflight(ctx, m_rep, std::move(linting));  // warnings only
    return std::nullopt;
  }

  StageOutcome run_inner() {
    if (auto why = confirm_protected(m_env, m_opts.yes); !why.empty()) return refuse(why);
    steps::Transports transports(m_env);
    std::unique_ptr<Session> session;
    Stopwatch sw;
    try {
      session = std::make_unique<Session>(
          m_env, transports, m_run_id, SessionWaits{m_opts.wait_ready, m_opts.wait_lock}, m_rep, m_early.take(m_env));
    } catch (const Error& e) {
      if (e.kind() == ErrorKind::Refused) return refuse(e.what(), e.hint());
      m_rep.step_failed("connect", e.what(), sw.elapsed());
      return {exit_code::k_failed_clean, "failed", e.what()};
    }
    steps::StageContext ctx(m_project, m_pb, m_env, session->db(), session->ledger(), m_rep, transports, m_run_id,
                            m_opts.state_dir, m_files);
    if (auto refused = plan(ctx)) return *refused;
    if (auto stopped = baseline_and_preflight(ctx)) return *stopped;
    // the deployed code's version (services.NAME.version), before anything changes
    if (auto why = steps::record_code_versions(ctx); !why.empty()) return {exit_code::k_failed_clean, "failed", why};
    session->record(m_pb.name, ctx.state.current, m_opts.command_line);
    return record_outcome(ctx, run_steps(ctx));
  }

  // The state a rollback must prove it returned to. Nothing has changed yet: a failure is clean.
  std::optional<StageOutcome> take_baseline(steps::StageContext& ctx) {
    Stopwatch sw;
    ctx.baseline.version = ctx.state.current;
    if (steps::baseline_in_backup(m_pb)) {  // read in the backup's snapshot (steps/baseline.hpp)
      ctx.baseline.in_backup = true;
      if (m_opts.verbose) m_rep.step_finished("baseline", "read by the backup, in the snapshot it dumps", sw.elapsed());
      return std::nullopt;
    }
    try {
      ctx.baseline = steps::read_baseline(ctx.db, ctx.state.current);
    } catch (const Error& e) {
      std::string why = interrupted() ? "interrupted by " + interrupt_name() : std::string(e.what());
      m_rep.step_failed("baseline", why, sw.elapsed());
      return StageOutcome{exit_code::k_failed_clean, "failed", why};
    }
    if (m_opts.verbose)
      m_rep.step_finished("baseline",
                          "fingerprint " + ctx.baseline.fingerprint.substr(0, 12) + ", " +
                              std::to_string(ctx.baseline.row_counts.size()) + " tables",
                          sw.elapsed());
    return std::nullopt;
  }

  // The steps through the saga, then what their outcome calls for.
  StageOutcome run_steps(steps::StageContext& ctx) {
    std::vector<std::unique_ptr<SagaUnit>> units;
    std::vector<SagaStep*> order;
    for (const auto& spec : m_pb.steps)
      order.push_back(units.emplace_back(std::make_unique<SagaUnit>(spec, ctx)).get());
    StageObserver observer(m_rep, ctx.ledger);
    Saga saga(observer);
    std::string failure = saga.run(order);
    // The lock must still be ours before success is declared, and before anything is undone.
    bool lock_lost = !ctx.ledger.lock_held();
    if (lock_lost && failure.empty()) failure = k_lock_lost;
    // A session the server dropped (a restart, a terminated backend): a new session and the
    // lock again, when no other run was recorded in between. Then the usual rollback and proof
    // say what is true; otherwise stop and undo nothing.
    if (lock_lost && !ctx.db.alive() && steps::recover_connection(ctx)) lock_lost = false;
    if (lock_lost) return after_lock_lost(ctx, saga, failure);
    if (failure.empty()) {
      prune_backups(ctx);
      return {exit_code::k_ok, "succeeded", ""};
    }
    if (m_pb.on_failure == config::OnFailure::Stop) return after_stop(ctx, failure);
    observer.restart_clock();
    return compensate(ctx, saga, failure);
  }

  void prune_backups(steps::StageContext& ctx) {
    if (!m_env.backup || !ctx.backup) return;
    try {
      std::vector<std::string> warnings;
      int n = steps::prune_backups(m_env, ctx.transports, &warnings);
      for (const auto& w : warnings) m_rep.message(report::Level::Warn, w);
      if (n > 0)
        m_rep.message(report::Level::Info,
                      "pruned " + std::to_string(n) + " old backup(s), keeping " + std::to_string(m_env.backup->keep));
    } catch (const Error& e) {
      m_rep.message(report::Level::Warn, std::string("pruning old backups failed: ") + e.what());
    }
  }

  // The outcome in ferry.runs; a success that cannot be recorded is not one.
  StageOutcome record_outcome(steps::StageContext& ctx, StageOutcome out) {
    std::string outcome = out.outcome == "rolled back"       ? "rolled_back"
                          : out.outcome == "needs attention" ? "needs_attention"
                                                             : out.outcome;
    note_context(m_sum, ctx);
    steps::note_pin_outcome(ctx, outcome, m_sum.version_after);  // automatic pins (steps/backup_pins.*)
    if (record_run_outcome(ctx, outcome, out.error, ctx.backup ? ctx.backup->id : "") ||
        out.exit_code != exit_code::k_ok)
      return out;
    // The changes are in place but the ledger says 'running': the next ferry marks the run
    // abandoned and every later gate refuses what it applied. Not a success to report.
    m_rep.message(report::Level::Error,
                  "the run's changes are in place, but ferry.runs does not say it succeeded; "
                  "later gates will refuse them: a human must act");
    m_rep.message(report::Level::Hint,
                  "once ferry.runs is writable, record it: UPDATE ferry.runs SET outcome = "
                  "'succeeded', finished = now() WHERE id = '" +
                      m_run_id + "'");
    return {exit_code::k_failed_dirty, "needs attention", "the outcome could not be recorded in ferry.runs"};
  }

  // ferry's session (and with it the lock) is gone: another ferry may be at work, so nothing
  // more is changed or undone here; say plainly what this run may have left.
  StageOutcome after_lock_lost(steps::StageContext& ctx, const Saga& saga, const std::string& failure) {
    bool changed = ctx.driver->changed(ctx);
    for (const auto* s : saga.started()) changed |= static_cast<const SagaUnit*>(s)->changes_database();
    m_rep.message(report::Level::Error, "ferry lost its database session and with it the lock of run " + m_run_id +
                                            "; it stops here and undoes nothing (another run may hold the lock now)");
    if (!changed) return {exit_code::k_failed_clean, "failed", failure + "; nothing had been changed"};
    m_rep.message(report::Level::Error, "this run changed '" + m_env.name + "' before that: a human must act");
    say_restore_by_hand(ctx);
    return {exit_code::k_failed_dirty, "needs attention", failure};
  }

  void say_restore_by_hand(steps::StageContext& ctx) {
    std::string bad;  // never suggest a backup whose file does not match its sha256
    auto b = ctx.backup ? steps::restorable_backup(m_env, ctx.transports, *ctx.backup, bad) : std::nullopt;
    if (!bad.empty()) m_rep.message(report::Level::Error, "the backup taken before this run is unusable: " + bad);
    if (b) {
      m_rep.message(report::Level::Hint, (b->id == ctx.backup->id ? "the backup taken before this run is "
                                                                  : "the newest backup whose sha256 matches is ") +
                                             b->file);
      m_rep.message(report::Level::Hint, "restore it with ferry: ferry rollback " + m_env.name + " --backup " + b->id +
                                             (m_env.is_protected ? " --yes" : ""));
      m_rep.message(report::Level::Hint, "or by hand: " + steps::manual_restore_command(m_env, *b));
    } else {
      m_rep.message(report::Level::Hint,
                    std::string(ctx.backup ? "no backup matches its sha256" : "this run took no backup") +
                        "; inspect " + m_env.name + " with `ferry status --env " + m_env.name +
                        "` and `ferry history " + m_env.name + "`");
    }
  }

  // Proven as before: a no-transaction migration this run cut off left nothing behind.
  void settle_interrupted(steps::StageContext& ctx) {
    try {
      ctx.ledger.settle_applying(m_run_id);
    } catch (const Error& e) {
      m_rep.message(report::Level::Warn, std::string("could not settle the 'applying' mark: ") + e.what());
    }
  }

  bool unchanged_since_baseline(steps::StageContext& ctx) {
    try {
      return compare_with_baseline(ctx.db, steps::settled_baseline(ctx)).empty();
    } catch (const Error&) {
      return false;
    }
  }

  StageOutcome after_stop(steps::StageContext& ctx, const std::string& failure) {
    if (!steps::recover_connection(ctx)) {
      say_restore_by_hand(ctx);
      return {exit_code::k_failed_dirty, "needs attention", failure + "; the connection to PostgreSQL was lost"};
    }
    std::string diff = compare_with_baseline(ctx.db, steps::settled_baseline(ctx));
    if (diff.empty()) {
      settle_interrupted(ctx);
      m_rep.message(report::Level::Info,
                    "on_failure: stop; the database is unchanged (fingerprint and row counts as before)");
      return {exit_code::k_failed_clean, "failed", failure};
    }
    m_rep.message(report::Level::Error, "on_failure: stop, and the environment changed: " + diff);
    if (!ctx.applied_this_run.empty())
      m_rep.message(report::Level::Error, "committed by this run: " + std::to_string(ctx.applied_this_run.size()) +
                                              " migration(s), newest " + ctx.applied_this_run.back().version);
    say_restore_by_hand(ctx);
    return {exit_code::k_failed_dirty, "needs attention", failure};
  }

  // "" when proven, else what is not as before.
  std::string prove(steps::StageContext& ctx) {
    Stopwatch sw;
    m_rep.step_started("proof");
    std::string diff;
    try {
      diff = compare_with_baseline(ctx.db, steps::settled_baseline(ctx));
    } catch (const Error& e) {
      diff = std::string("cannot read the database: ") + e.what();
    }
    std::string health;
    if (diff.empty()) {
      for (const auto* svc : proof_services(m_pb, m_env)) {
        try {
          steps::check_health(ctx, *svc, "proof", std::nullopt);
          health += (health.empty() ? "" : ", ") + svc->name + " healthy";
        } catch (const Error& e) {
          diff = e.what();
          break;
        }
      }
    }
    if (diff.empty())
      m_rep.step_finished("proof",
                          "fingerprint " + ctx.baseline.fingerprint.substr(0, 12) + " and " +
                              std::to_string(ctx.baseline.row_counts.size()) + " row counts as before" +
                              (health.empty() ? "" : "; " + health),
                          sw.elapsed());
    else
      m_rep.step_failed("proof", diff, sw.elapsed());
    return diff;
  }

  // Undoes the steps that ran (the saga: newest first), then proves the environment is as before;
  // with `auto`, a failed proof after down SQL falls back to the backup and undoes again.
  StageOutcome compensate(steps::StageContext& ctx, Saga& saga, const std::string& failure) {
    // A signal during compensation must not stop it: finish the rollback, then exit.
    bool was_interrupted = interrupted();
    const std::string signal_name = was_interrupted ? interrupt_name() : "";  // before it is cleared
    take_interrupt();
    set_cancel_target(nullptr);
    auto choice = ctx.driver->rollback_for_run(m_pb, ctx);
    if (!steps::recover_connection(ctx)) {
      say_restore_by_hand(ctx);
      return {exit_code::k_failed_dirty, "needs attention", failure + "; the connection to PostgreSQL was lost"};
    }
    // Reconnected, nothing of this run in the ledger, schema and rows as before: the server
    // rolled back this run's transaction.
    bool rolled_back_by_server = ctx.reconnected && !ctx.driver->changed(ctx) && unchanged_since_baseline(ctx);
    if (rolled_back_by_server) ctx.database_as_before = true;
    auto undone = saga.undo();
    std::string diff = undone.ok ? prove(ctx) : "compensation failed";
    if (!diff.empty() && undone.ok && !ctx.restored && m_pb.rollback == config::RollbackMethod::Auto && ctx.backup) {
      m_rep.message(report::Level::Warn, "not proven after down SQL; restoring the backup instead");
      if (steps::restore_run_backup(ctx, "proof failed after down SQL")) {
        undone = saga.undo();
        diff = undone.ok ? prove(ctx) : "restart failed";
      }
    }
    if (!undone.ok) {
      std::string rest;
      for (const auto& r : undone.remaining) rest += (rest.empty() ? "" : ", ") + r;
      m_rep.message(report::Level::Error, "the undo stopped; not undone: " + rest);
    }
    if (was_interrupted) m_rep.message(report::Level::Info, "stopped by " + signal_name + " after rolling back");
    if (diff.empty()) {
      settle_interrupted(ctx);
      if (rolled_back_by_server)
        m_rep.message(report::Level::Info,
                      "the connection was lost; the transaction was rolled back by PostgreSQL; proven as before");
      if (choice.method == steps::RollbackMethod::DownSqlDataLoss)
        m_rep.message(report::Level::Warn, "down SQL restored the schema, but " + choice.reason);
      return {exit_code::k_failed_clean, "rolled back", failure};
    }
    m_rep.message(report::Level::Error, "the environment is NOT proven equal to before the run: a human must act");
    say_restore_by_hand(ctx);
    return {exit_code::k_failed_dirty, "needs attention", failure + "; rollback not proven: " + diff};
  }

  const config::Project& m_project;
  const config::Playbook& m_pb;
  const config::Environment& m_env;
  report::Reporter& m_rep;
  std::string m_run_id;
  const RunOptions& m_opts;
  const std::vector<migrate::Migration>& m_files;
  EarlyConnection& m_early;
  report::StageSummary m_sum;  // for notifications and metrics
};

}  // namespace

report::Fanout make_reporter(const config::Project& project, const std::string& run_id, const std::string& state_dir,
                             const std::string& report_file, bool color, bool quiet, bool verbose) {
  report::Fanout fan(project.secrets);
  fan.add(report::make_console_reporter(color, quiet, verbose));
  fan.add(report::make_log_reporter());
  fs::create_directories(fs::path(state_dir) / "runs");
  fan.add(report::make_journal((fs::path(state_dir) / "runs" / (run_id + ".jsonl")).string()));
  if (!report_file.empty()) fan.add(report::make_report_file(report_file));
  return fan;
}

int run_playbook(const config::Project& project, const config::Playbook& pb, const RunOptions& opts) {
  std::vector<std::string> stages = pb.stages;
  if (opts.only_env) {
    if (std::find(stages.begin(), stages.end(), *opts.only_env) == stages.end())
      throw Error(ErrorKind::Config, "playbook '" + pb.name + "' has no stage '" + *opts.only_env + "'");
    stages = {*opts.only_env};
  }
  if (opts.fleet.resume) stages = {resume_stage(opts, pb)};
  check_fleet_flags(project, stages, opts.fleet);
  // The first stage's connection opens while the migrations are read (unless it would wait for
  // a protected environment's confirmation: it is opened after it then).
  const config::Environment* first = stages.empty() ? nullptr : &project.environment(stages.front());
  EarlyConnection early(first && (!first->is_protected || opts.yes) ? first : nullptr);
  auto files = load_playbook_migrations(project, pb.migrations);
  std::string run_id = new_run_id();
  install_signal_handlers();
  // With --json the console is quiet, and a quiet console writes only to stderr.
  auto fan = make_reporter(project, run_id, opts.state_dir, opts.report_file, opts.color, opts.quiet, opts.verbose);
  fan.add(steps::make_notifier(project, pb));
  if (!opts.metrics_file.empty()) fan.add(report::make_metrics_file(opts.metrics_file));
  Stopwatch sw;
  fan.run_started(run_id, pb.name, stages);
  int code = exit_code::k_ok;
  std::string outcome = "succeeded";
  nlohmann::json fleets = nlohmann::json::array();
  for (const auto& name : stages) {
    const auto& env = project.environment(name);
    StageOutcome out;
    if (env.database.fleet()) {
      auto fr = run_fleet_stage(project, pb, env, fan, opts, run_id);
      if (!fr.record.is_null()) fleets.push_back(fr.record);
      out = {fr.exit_code, fr.outcome, fr.error};
    } else {
      out = StageRunner(project, pb, env, fan, run_id, opts, files, early).run();
    }
    if (out.exit_code != exit_code::k_ok) {
      code = out.exit_code;
      outcome = out.outcome + " at stage " + name;
      break;
    }
    if (interrupted()) {
      code = exit_code::k_failed_clean;
      outcome = "stopped by " + interrupt_name() + " after stage " + name;
      break;
    }
  }
  fan.run_finished(outcome, code, sw.elapsed());
  if (!fleets.empty() || opts.fleet.json) report_fleets(opts, run_id, fleets, code, outcome);
  return code;
}

}  // namespace ferry::run
