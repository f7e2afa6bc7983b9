#include "run/runner.hpp"

#include <cstdio>
#include <filesystem>
#include <iostream>

#include "core/error.hpp"
#include "core/text.hpp"
#include "db/introspect.hpp"
#include "migrate/sql_parser.hpp"
#include "run/interrupt.hpp"
#include "run/proof.hpp"
#include "run/hooks.hpp"
#include "run/waiting.hpp"
#include "run/summary.hpp"
#include "run/target.hpp"
#include "steps/backup.hpp"
#include "steps/backup_pins.hpp"
#include "steps/notify.hpp"
#include "steps/service.hpp"
#include "steps/step.hpp"

namespace fs = std::filesystem;

namespace ferry::run {

namespace {

constexpr const char* k_lock_lost = "ferry's database session was lost, and with it the run's lock";

struct StageOutcome {
  int exit_code = 0;
  std::string outcome;  // succeeded | rolled back | failed | refused | needs attention
  std::string error;
};

class StageRunner {
 public:
  StageRunner(const config::Project& project, const config::Playbook& pb, const config::Environment& env,
              report::Reporter& rep, const std::string& run_id, const RunOptions& opts,
              const std::vector<migrate::Migration>& files)
      : m_project(project), m_pb(pb), m_env(env), m_rep(rep), m_run_id(run_id), m_opts(opts), m_files(files) {}

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

  StageOutcome run_inner() {
    if (auto why = confirm_protected(m_env, m_opts.yes); !why.empty()) return refuse(why);
    Stopwatch lock_sw;
    steps::Transports transports(m_env);
    DbLink link;
    try {
      link = connect_when_ready(m_env, &transports, m_opts.wait_ready, m_rep);
    } catch (const Error& e) {
      m_rep.step_failed("connect", e.what(), lock_sw.elapsed());
      return {exit_code::k_failed_clean, "failed", e.what()};
    }
    auto& conn = link.conn;
    db::Ledger ledger(*conn);
    if (!lock_waiting(ledger, m_env.name, m_opts.wait_lock, m_rep)) {
      return refuse(locked_message(ledger, m_env.name, m_opts.wait_lock),
                    "wait for that run to finish (--wait-lock DURATION waits for it); ferry never breaks another "
                    "run's lock");
    }
    set_cancel_target(conn.get());
    struct Unlock {
      db::Ledger& l;
      ~Unlock() {
        set_cancel_target(nullptr);
        l.unlock();
      }
    } unlock{ledger};
    ledger.ensure_schema();
    m_rep.step_finished("lock", "held by run " + m_run_id, lock_sw.elapsed());
    report_abandoned_runs(ledger, m_rep, m_env.name);

    steps::StageContext ctx(m_project, m_pb, m_env, *conn, ledger, m_rep, transports, m_run_id, m_opts.state_dir,
                            m_files);
    bool alembic = m_pb.migrations.driver == config::Driver::Alembic;
    if (alembic) {
      Stopwatch asw;
      try {
        ctx.alembic_chain = migrate::alembic_history(transports.get(m_pb.migrations.on), m_pb.migrations);
        ctx.plan.current = migrate::alembic_current(*conn);
        ctx.alembic_todo = migrate::alembic_pending(ctx.alembic_chain, ctx.plan.current);
      } catch (const Error& e) {
        if (e.kind() == ErrorKind::Refused) return refuse(e.what());
        m_rep.step_failed("alembic history", e.what(), asw.elapsed());
        return {exit_code::k_failed_clean, "failed", e.what()};
      }
      std::string todo;
      for (const auto& r : ctx.alembic_todo) todo += (todo.empty() ? "" : ", ") + r.id;
      m_rep.step_finished("alembic history",
                          "at " + (ctx.plan.current.empty() ? std::string("base") : ctx.plan.current) +
                              "; pending: " + (todo.empty() ? std::string("none") : todo),
                          asw.elapsed());
    } else {
      ctx.plan = migrate::make_plan(m_files, ledger.applied());
    }
    if (!ctx.plan.drift.empty()) {
      std::string list;
      for (const auto& d : ctx.plan.drift) list += "\n  " + d.message;
      return refuse("drift in '" + m_env.name + "':" + list,
                    "restore the migration files as they were applied, or roll back with `ferry rollback " +
                        m_env.name + " --to VERSION`");
    }
    if (auto cut = alembic ? std::vector<std::string>{} : interrupted_migrations(ledger); !cut.empty()) {
      std::string list;
      for (const auto& c : cut) list += "\n  " + c;
      return refuse("'" + m_env.name + "' has an interrupted migration:" + list, interrupted_hint(m_env));
    }
    if (!m_env.requires_envs.empty()) {
      Stopwatch gsw;
      auto missing = alembic ? check_alembic_gate(m_project, m_env, ctx.alembic_chain, ctx.alembic_todo)
                             : check_gate(m_project, m_env, ctx.plan.pending);
      if (!missing.empty()) {
        std::string list;
        for (const auto& m : missing) list += "\n  " + m;
        return refuse("gate: '" + m_env.name + "' requires what is missing:" + list,
                      "promote through the required environments first");
      }
      std::string reqs;
      for (const auto& r : m_env.requires_envs) reqs += (reqs.empty() ? "" : ", ") + r;
      size_t n = alembic ? ctx.alembic_todo.size() : ctx.plan.pending.size();
      m_rep.step_finished("gate", "open: " + std::to_string(n) + " pending verified in " + reqs, gsw.elapsed());
    }
    Stopwatch bsw;
    ctx.baseline.version = ctx.plan.current;
    try {
      ctx.baseline.description = db::schema_description(*conn);
      ctx.baseline.fingerprint = sha256_hex(ctx.baseline.description);
      ctx.baseline.row_counts = db::row_counts(*conn);
      ctx.baseline.sequences = db::sequence_positions(*conn);
    } catch (const Error& e) {
      // Nothing has changed yet: a clean failure.
      std::string why = interrupted() ? "interrupted by " + interrupt_name() : std::string(e.what());
      m_rep.step_failed("baseline", why, bsw.elapsed());
      return {exit_code::k_failed_clean, "failed", why};
    }
    if (m_opts.verbose)
      m_rep.step_finished("baseline",
                          "fingerprint " + ctx.baseline.fingerprint.substr(0, 12) + ", " +
                              std::to_string(ctx.baseline.row_counts.size()) + " tables",
                          bsw.elapsed());

    db::RunRecord rec;
    rec.id = m_run_id;
    rec.playbook = m_pb.name;
    rec.environment = m_env.name;
    rec.operator_name = operator_name();
    rec.host = host_name();
    rec.version_before = ctx.plan.current;
    rec.command = m_opts.command_line;
    ledger.insert_run(rec);

    std::vector<std::unique_ptr<steps::Step>> completed;
    std::string failure;
    for (const auto& spec : m_pb.steps) {
      auto step = steps::make_step(spec);
      if (interrupted()) {
        failure = "interrupted by " + interrupt_name();
        m_rep.message(report::Level::Error, failure);
        break;
      }
      if (!ledger.lock_held()) {
        failure = k_lock_lost;
        m_rep.step_failed(step->name(), "not started: " + failure, Millis(0));
        break;
      }
      Stopwatch ssw;
      m_rep.step_started(step->name());
      try {
        std::optional<Watchdog> dog;
        if (spec.timeout && spec.kind != config::StepKind::Run && spec.kind != config::StepKind::Restart)
          dog.emplace(conn.get(), spec.timeout->count());
        std::string summary = step->run(ctx);
        m_rep.step_finished(step->name(), summary, ssw.elapsed());
        completed.push_back(std::move(step));
      } catch (const Error& e) {
        conn->rollback_if_open();
        failure = e.what();
        if (spec.timeout && ssw.elapsed() >= *spec.timeout)
          failure = "timed out after " + format_duration(*spec.timeout) + ": " + failure;
        m_rep.step_failed(step->name(), failure, ssw.elapsed());
        // The failed step may have committed part of its work (migrate with transaction: each).
        completed.push_back(std::move(step));
        break;
      }
    }

    // The lock must still be ours before success is declared, and before anything is undone.
    bool lock_lost = !ledger.lock_held();
    if (lock_lost && failure.empty()) failure = k_lock_lost;
    // A session the server dropped (a restart, a terminated backend): a new session and the
    // lock again, when no other run was recorded in between. Then the usual rollback and proof
    // say what is true; otherwise stop and undo nothing.
    if (lock_lost && !ctx.db.alive() && recover_connection(ctx)) lock_lost = false;
    StageOutcome out;
    if (lock_lost) {
      out = after_lock_lost(ctx, completed, failure);
    } else if (failure.empty()) {
      out = {exit_code::k_ok, "succeeded", ""};
      if (m_env.backup && ctx.backup) {
        try {
          std::vector<std::string> warnings;
          int n = steps::prune_backups(m_env, transports, &warnings);
          for (const auto& w : warnings) m_rep.message(report::Level::Warn, w);
          if (n > 0)
            m_rep.message(report::Level::Info, "pruned " + std::to_string(n) + " old backup(s), keeping " +
                                                   std::to_string(m_env.backup->keep));
        } catch (const Error& e) {
          m_rep.message(report::Level::Warn, std::string("pruning old backups failed: ") + e.what());
        }
      }
    } else if (m_pb.on_failure == config::OnFailure::Stop) {
      out = after_stop(ctx, failure);
    } else {
      out = compensate(ctx, completed, failure);
    }
    std::string outcome = out.outcome == "rolled back"       ? "rolled_back"
                          : out.outcome == "needs attention" ? "needs_attention"
                                                             : out.outcome;
    note_context(m_sum, ctx);
    steps::note_pin_outcome(ctx, outcome, m_sum.version_after);  // automatic pins (steps/backup_pins.*)
    if (!record_run_outcome(ctx, outcome, out.error, ctx.backup ? ctx.backup->id : "") &&
        out.exit_code == exit_code::k_ok) {
      // The changes are in place but the ledger says 'running': the next ferry marks the run
      // abandoned and every later gate refuses what it applied. Not a success to report.
      m_rep.message(report::Level::Error,
                    "the run's changes are in place, but ferry.runs does not say it succeeded; "
                    "later gates will refuse them: a human must act");
      m_rep.message(report::Level::Hint,
                    "once ferry.runs is writable, record it: UPDATE ferry.runs SET outcome = "
                    "'succeeded', finished = now() WHERE id = '" +
                        m_run_id + "'");
      out = {exit_code::k_failed_dirty, "needs attention", "the outcome could not be recorded in ferry.runs"};
    }
    return out;
  }

  // ferry's session (and with it the lock) is gone: another ferry may be at work, so nothing
  // more is changed or undone here; say plainly what this run may have left.
  StageOutcome after_lock_lost(steps::StageContext& ctx, const std::vector<std::unique_ptr<steps::Step>>& completed,
                               const std::string& failure) {
    bool changed = ctx.alembic_changed || !ctx.applied_this_run.empty();
    for (const auto& s : completed) changed |= s->changes_database();
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
      return compare_with_baseline(ctx.db, ctx.baseline).empty();
    } catch (const Error&) {
      return false;
    }
  }

  StageOutcome after_stop(steps::StageContext& ctx, const std::string& failure) {
    if (!recover_connection(ctx)) {
      say_restore_by_hand(ctx);
      return {exit_code::k_failed_dirty, "needs attention", failure + "; the connection to PostgreSQL was lost"};
    }
    std::string diff = compare_with_baseline(ctx.db, ctx.baseline);
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

  // After a lost connection (PostgreSQL restarted, the backend terminated): a new session, the
  // run's lock again, and what the ledger says this run committed (a transaction the server
  // lost is not in it). False when the server stays away or another session took the lock.
  bool recover_connection(steps::StageContext& ctx) {
    if (ctx.db.alive()) return true;
    Stopwatch sw;
    m_rep.message(report::Level::Warn, "the connection to PostgreSQL was lost; reconnecting");
    try {
      ctx.db.reconnect();
    } catch (const Error& e) {
      m_rep.step_compensated("database", false, e.what(), sw.elapsed());
      return false;
    }
    if (!ctx.ledger.try_lock()) {
      m_rep.step_compensated("database", false,
                             "reconnected, but another session took the lock while the connection was lost",
                             sw.elapsed());
      return false;
    }
    if (auto n = ctx.ledger.runs_started_after(m_run_id); n > 0) {
      ctx.ledger.unlock();
      m_rep.step_compensated("database", false,
                             "reconnected, but " + std::to_string(n) +
                                 " other run(s) started on this database while the connection was lost",
                             sw.elapsed());
      return false;
    }
    m_connection_lost = true;
    if (!steps::is_alembic(ctx)) {
      ctx.applied_this_run.clear();
      for (auto& a : ctx.ledger.applied())
        if (a.run_id == m_run_id) ctx.applied_this_run.push_back(a);
    }
    m_rep.message(report::Level::Info,
                  "reconnected; this run's migrations in the ledger: " + std::to_string(ctx.applied_this_run.size()));
    return true;
  }

  bool restore(steps::StageContext& ctx, const std::string& why) {
    Stopwatch sw;
    if (!ctx.backup) {
      m_rep.step_compensated("database", false, "a restore is needed (" + why + ") but this run took no backup",
                             sw.elapsed());
      return false;
    }
    for (int attempt = 1;; ++attempt) {
      try {
        steps::restore_backup(ctx, *ctx.backup);
        ctx.applied_this_run.clear();
        m_rep.step_compensated("database", true, "restored backup " + ctx.backup->id + " (" + why + ")", sw.elapsed());
        return true;
      } catch (const Error& e) {
        // The restore is one transaction: when the server went away under it, nothing of it
        // was applied, and it can run again once the server is back.
        bool lost = attempt == 1 && !ctx.db.alive();
        m_rep.step_compensated("database", false, std::string("restore failed: ") + e.what(), sw.elapsed());
        if (!lost || !recover_connection(ctx)) return false;
        m_rep.message(report::Level::Warn,
                      "the connection was lost during the restore (one transaction: nothing "
                      "of it was applied); restoring again");
      }
    }
  }

  bool restart_services(steps::StageContext& ctx, const std::vector<std::unique_ptr<steps::Step>>& completed) {
    bool ok = true;
    for (auto it = completed.rbegin(); it != completed.rend(); ++it) {
      const auto& spec = (*it)->spec();
      if (spec.kind != config::StepKind::Restart) continue;
      Stopwatch sw;
      try {
        auto s = steps::restart_service(ctx, m_env.services.at(spec.service), spec.timeout);
        m_rep.step_compensated(spec.label(), true, s, sw.elapsed());
      } catch (const Error& e) {
        m_rep.step_compensated(spec.label(), false, e.what(), sw.elapsed());
        ok = false;
      }
    }
    return ok;
  }

  // "" when proven, else what is not as before.
  std::string prove(steps::StageContext& ctx) {
    Stopwatch sw;
    m_rep.step_started("proof");
    std::string diff;
    try {
      diff = compare_with_baseline(ctx.db, ctx.baseline);
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

  StageOutcome compensate(steps::StageContext& ctx, const std::vector<std::unique_ptr<steps::Step>>& completed,
                          const std::string& failure) {
    // A signal during compensation must not stop it: finish the rollback, then exit.
    bool was_interrupted = interrupted();
    clear_interrupt();
    set_cancel_target(nullptr);
    auto choice = choose_rollback(m_pb, [&] {
      std::vector<migrate::Migration> ran;
      for (const auto& a : ctx.applied_this_run)
        for (const auto& f : m_files)
          if (f.version == a.version) ran.push_back(f);
      return ran;
    }());
    bool changed_db = false;
    for (const auto& s : completed) changed_db |= s->changes_database();
    if (!recover_connection(ctx)) {
      say_restore_by_hand(ctx);
      return {exit_code::k_failed_dirty, "needs attention", failure + "; the connection to PostgreSQL was lost"};
    }
    bool rolled_back_by_server =
        m_connection_lost && ctx.applied_this_run.empty() && !steps::is_alembic(ctx) && unchanged_since_baseline(ctx);
    if (rolled_back_by_server) changed_db = false;  // nothing of this run is in the database
    bool db_ok = true;
    bool used_restore = false;
    if (steps::is_alembic(ctx)) {
      if (ctx.alembic_changed || m_pb.rollback == config::RollbackMethod::Restore) {
        std::string now = migrate::alembic_current(ctx.db);
        if (m_pb.rollback == config::RollbackMethod::Restore) {
          db_ok = restore(ctx, "rollback: restore");
          used_restore = true;
        } else if (now != ctx.baseline.version) {
          Stopwatch sw;
          std::string target = ctx.baseline.version.empty() ? "base" : ctx.baseline.version;
          try {
            migrate::alembic_run(ctx.transports.get(m_pb.migrations.on), m_pb.migrations, "downgrade " + target,
                                 std::nullopt);
            for (auto it = ctx.alembic_todo.rbegin(); it != ctx.alembic_todo.rend(); ++it)
              ctx.db.exec_params(
                  "INSERT INTO ferry.history (version, name, action, run_id) VALUES ($1, $2, 'reverted', $3)",
                  {it->id, it->message, m_run_id});
            m_rep.step_compensated("migrate", true, "alembic downgrade " + target + " (from " + now + ")",
                                   sw.elapsed());
          } catch (const Error& e) {
            m_rep.step_compensated("migrate", false, e.what(), sw.elapsed());
            if (m_pb.rollback == config::RollbackMethod::Auto) {
              db_ok = restore(ctx, "alembic downgrade failed");
              used_restore = true;
            } else {
              db_ok = false;
            }
          }
        }
      }
      changed_db = false;  // handled above; sql steps still show up in the proof
    }
    if (changed_db) {
      bool want_restore = choice.method == "restore backup" && !ctx.applied_this_run.empty();
      if (m_pb.rollback == config::RollbackMethod::Restore) want_restore = true;
      if (want_restore) {
        db_ok = restore(ctx, choice.reason);
        used_restore = true;
      } else if (!ctx.applied_this_run.empty()) {
        Stopwatch sw;
        try {
          std::string s = steps::revert_migrations(ctx);
          m_rep.step_compensated("migrate", true, s, sw.elapsed());
        } catch (const Error& e) {
          m_rep.step_compensated("migrate", false, e.what(), sw.elapsed());
          if (m_pb.rollback == config::RollbackMethod::Auto) {
            db_ok = restore(ctx, "a down migration failed");
            used_restore = true;
          } else {
            db_ok = false;
          }
        }
      }
    }
    bool svc_ok = db_ok ? restart_services(ctx, completed) : false;
    std::string diff = db_ok && svc_ok ? prove(ctx) : "compensation failed";
    if (!diff.empty() && db_ok && svc_ok && !used_restore && m_pb.rollback == config::RollbackMethod::Auto &&
        ctx.backup) {
      m_rep.message(report::Level::Warn, "not proven after down SQL; restoring the backup instead");
      if (restore(ctx, "proof failed after down SQL")) {
        svc_ok = restart_services(ctx, completed);
        diff = svc_ok ? prove(ctx) : "restart failed";
      }
    }
    if (was_interrupted) m_rep.message(report::Level::Info, "stopped by " + interrupt_name() + " after rolling back");
    if (diff.empty()) {
      settle_interrupted(ctx);
      if (rolled_back_by_server)
        m_rep.message(report::Level::Info,
                      "the connection was lost; the transaction was rolled back by PostgreSQL; proven as before");
      if (choice.method == "down SQL (data loss!)")
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
  bool m_connection_lost = false;  // reconnected during this stage
  report::StageSummary m_sum;      // for notifications and metrics
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
  auto files = load_playbook_migrations(project, pb.migrations);
  std::string run_id = new_run_id();
  install_signal_handlers();
  auto fan = make_reporter(project, run_id, opts.state_dir, opts.report_file, opts.color, opts.quiet, opts.verbose);
  fan.add(steps::make_notifier(project, pb));
  if (!opts.metrics_file.empty()) fan.add(report::make_metrics_file(opts.metrics_file));
  Stopwatch sw;
  fan.run_started(run_id, pb.name, stages);
  int code = exit_code::k_ok;
  std::string outcome = "succeeded";
  for (const auto& name : stages) {
    StageRunner sr(project, pb, project.environment(name), fan, run_id, opts, files);
    auto out = sr.run();
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
  return code;
}

}  // namespace ferry::run
