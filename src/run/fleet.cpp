#include "run/fleet.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <functional>
#include <mutex>
#include <thread>

#include "config/fleet.hpp"
#include "core/error.hpp"
#include "core/interrupt.hpp"
#include "core/text.hpp"
#include "run/fleet_child.hpp"
#include "run/fleet_members.hpp"
#include "run/fleet_plan.hpp"
#include "run/fleet_select.hpp"
#include "transport/registry.hpp"

namespace fs = std::filesystem;

namespace ferry::run {

namespace {

MemberResult named(const std::string& name, const std::string& outcome = "not_started") {
  MemberResult m;
  m.name = name;
  m.outcome = outcome;
  return m;
}

using Work = std::function<MemberResult(std::size_t)>;
using Done = std::function<void(std::size_t, MemberResult)>;

class FleetStage {
 public:
  FleetStage(const config::Project& project, const config::Playbook& pb, const config::Environment& env,
             report::Reporter& rep, const RunOptions& opts)
      : m_pb(pb), m_env(env), m_rep(rep), m_opts(opts) {
    fs::path playbook = fs::path(pb.file).is_absolute() ? fs::path(pb.file) : fs::path(project.root) / pb.file;
    m_child = {opts.fleet.root, opts.fleet.child_flags, fs::absolute(playbook).string(), env.name, "", "", {}};
  }

  FleetStageResult run(const std::string& run_id) {
    Stopwatch sw;
    std::string refusal = confirm_protected(m_env, m_opts.yes);
    if (!refusal.empty()) return {exit_code::k_refused, "refused", refusal, nullptr};
    share_tunnel();
    auto todo = prepare(run_id);
    m_child.run_id = m_record.run_id;
    bool resume = m_opts.fleet.resume.has_value();
    m_plan = plan_fleet(invocation_sizes(m_pb.fleet, m_record, static_cast<int>(todo.size()), resume),
                        m_pb.fleet.parallel, todo);
    m_total = todo.size();
    m_child.report_dir = record_path(m_opts.state_dir, m_record.run_id) + ".d";
    fs::create_directories(m_child.report_dir);
    fs::permissions(m_child.report_dir, fs::perms::owner_all);
    write_record(m_opts.state_dir, m_record);
    m_rep.stage_started(m_env.name, describe());
    m_rep.step_started("fleet");
    for (std::size_t p = 0; p < m_plan.phases.size() && !m_stop && !interrupted(); ++p)
      pool(
          m_plan.phases[p], [this](std::size_t i) { return run_member(m_child, m_record.members[i].name, i); },
          [this, canary = m_plan.has_canary && p == 0](std::size_t i, MemberResult r) { ran(i, std::move(r), canary); },
          m_plan.has_canary && p == 0 ? 0 : m_plan.budget - m_failures);
    if (m_stop && m_pb.fleet.revert) revert();
    std::error_code ec;
    fs::remove_all(m_child.report_dir, ec);
    return finish(sw.elapsed());
  }

 private:
  // database.tunnel: one tunnel (one SSH session) for the whole fleet, opened here and kept
  // until the stage ends; discovery and every child connect through its local port.
  void share_tunnel() {
    const auto& d = m_env.database;
    if (d.tunnel.empty()) return;
    m_transports = std::make_unique<transport::Transports>(m_env);
    m_tunnel = m_transports->tunnel(d.tunnel, d.host, d.port);
    m_child.env[transport::k_shared_tunnel_env] =
        transport::Transports::shared_tunnel(d.tunnel, d.host, d.port, m_tunnel->local_port());
  }

  // The record to fill (new, or the one --resume continues) and the databases to run.
  std::vector<std::size_t> prepare(const std::string& run_id) {
    std::vector<std::string> warnings, names;
    const auto& f = m_opts.fleet;
    if (f.resume) {
      m_record = read_record(m_opts.state_dir, *f.resume);
      ++m_record.resumes;
      for (const auto& m : m_record.members)
        if (m.outcome != "ok") names.push_back(m.name);
    } else {
      m_record.run_id = fs::exists(record_path(m_opts.state_dir, run_id)) ? new_run_id() : run_id;
      m_record.playbook = m_pb.name;
      m_record.environment = m_env.name;
      m_record.shard = f.shard;
      m_record.started = now_iso8601();
      for (const auto& n :
           select_members(fleet_members(m_env, m_transports.get()), f.only, f.exclude, f.shard, warnings))
        m_record.members.push_back(named(n));
      for (const auto& m : m_record.members) names.push_back(m.name);
    }
    if (f.resume) names = select_members(names, f.only, f.exclude, f.shard, warnings);
    for (const auto& w : warnings) m_rep.message(report::Level::Warn, w);
    std::vector<std::size_t> todo;
    for (std::size_t i = 0; i < m_record.members.size(); ++i) {
      auto& m = m_record.members[i];
      if (std::find(names.begin(), names.end(), m.name) != names.end()) {
        m = named(m.name);
        todo.push_back(i);
      } else if (m.outcome != "ok") {
        m.outcome = "skipped";
      }
    }
    return todo;
  }

  std::string describe() const {
    const auto& d = m_env.database;
    return "fleet of " + std::to_string(m_total) + " databases on " + d.host + ":" + std::to_string(d.port) +
           " (parallel " + std::to_string(m_plan.parallel) + ", canary " +
           std::to_string(m_plan.has_canary ? m_plan.phases[0].size() : 0) + ", failure budget " +
           std::to_string(m_plan.budget) +
           (m_record.failures > 0 ? " left of " + std::to_string(m_record.budget) : std::string()) + "), run " +
           m_record.run_id;
  }

  // Runs work(i) for each of `idx` on up to `parallel` threads; `done` gets each result on this
  // thread (the only one that reports and writes the record). No new start once more than
  // `allowed` of these failed (the workers count, so none starts after the failure that spent
  // the budget; -1: no limit) or a signal came.
  void pool(const std::vector<std::size_t>& idx, const Work& work, const Done& done, int allowed) {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<std::pair<std::size_t, MemberResult>> results;
    std::size_t next = 0;
    int failed = 0;
    int workers = std::min<int>(m_plan.parallel, static_cast<int>(idx.size())), exited = 0;
    auto worker = [&] {
      for (;;) {
        std::size_t i;
        {
          std::lock_guard lk(mu);
          if ((allowed >= 0 && failed > allowed) || interrupted() || next >= idx.size()) {
            ++exited;
            cv.notify_all();
            return;
          }
          i = idx[next++];
          ++m_running;
        }
        MemberResult r = guarded(work, i);
        std::lock_guard lk(mu);
        if (r.outcome != "ok") ++failed;
        results.emplace_back(i, std::move(r));
        --m_running;
        cv.notify_all();
      }
    };
    std::vector<std::thread> threads;
    for (int w = 0; w < workers; ++w) threads.emplace_back(worker);
    for (bool all_done = workers == 0; !all_done;) {
      std::deque<std::pair<std::size_t, MemberResult>> got;
      {
        std::unique_lock lk(mu);
        cv.wait_for(lk, std::chrono::seconds(1), [&] { return !results.empty() || exited == workers; });
        got.swap(results);
        all_done = exited == workers;
      }
      for (auto& [i, r] : got) done(i, std::move(r));
      progress();
    }
    for (auto& t : threads) t.join();
  }

  MemberResult guarded(const Work& work, std::size_t i) {
    try {
      return work(i);
    } catch (const std::exception& e) {
      MemberResult r = named(m_record.members[i].name, "needs_human");
      r.exit_code = exit_code::k_failed_dirty;
      r.message = std::string("ferry could not run this database: ") + e.what();
      return r;
    }
  }

  void ran(std::size_t i, MemberResult r, bool canary) {
    m_record.members[i] = std::move(r);
    m_ran.push_back(i);
    const auto& m = m_record.members[i];
    if (m.outcome != "ok" && !interrupted()) {  // a member stopped by a signal spends no budget
      ++m_failures;
      ++m_record.failures;
    }
    m_done_ms += m.duration_ms;
    write_record(m_opts.state_dir, m_record);
    line(m);
    if (m.outcome == "ok" || m_stop) return;
    if (interrupted()) {  // the children were told to stop: not the budget's doing
      m_stop = true;
      m_rep.message(report::Level::Warn, "stopped by " + interrupt_name() + ": no new database starts");
      return;
    }
    if (canary) {
      m_stop = true;
      m_rep.message(report::Level::Error, "canary " + m.name + " failed: no other database starts");
    } else if (m_failures > m_plan.budget) {
      m_stop = true;
      m_rep.message(report::Level::Error, "failure budget spent (" + std::to_string(m_failures) + " failed, " +
                                              std::to_string(m_plan.budget) + " tolerated): no new database starts");
    }
  }

  void line(const MemberResult& m) {
    Millis took(m.duration_ms);
    std::string step = "db " + m.name;
    if (m.outcome == "ok") return m_rep.step_finished(step, "ok", took);
    std::string what = m.outcome == "rolled_back" ? "rolled back"
                       : m.outcome == "refused"   ? "refused"
                                                  : "NEEDS A HUMAN";
    m_rep.step_failed(step, what + (m.message.empty() ? "" : ": " + m.message), took);
  }

  void progress() {
    std::size_t done = m_ran.size(), running = m_running;
    std::size_t left = m_total > done + running ? m_total - done - running : 0;
    std::string text = std::to_string(done) + "/" + std::to_string(m_total) + " done, " + std::to_string(running) +
                       " running, " + std::to_string(left) + " left; failures " + std::to_string(m_failures) +
                       " (budget " + std::to_string(m_plan.budget) + ")";
    if (done > 0 && left + running > 0) {
      long long eta = m_done_ms / static_cast<long long>(done) * static_cast<long long>(left + running) /
                      std::max(1, m_plan.parallel);
      text += "; about " + format_duration(Millis(eta)) + " left";
    }
    m_rep.step_progress("fleet", text);
  }

  // on_budget_spent: revert: every database this run migrated, back to its run's backup.
  void revert() {
    std::vector<std::size_t> migrated;
    for (auto i : m_ran)
      if (m_record.members[i].outcome == "ok") migrated.push_back(i);
    if (migrated.empty()) return;
    m_rep.message(report::Level::Warn, "on_budget_spent: revert: rolling back the " + std::to_string(migrated.size()) +
                                           " databases migrated");
    pool(
        migrated,
        [this](std::size_t i) {
          MemberResult m = m_record.members[i];  // read-only here; the record changes in `done`
          revert_member(m_child, m);
          return m;
        },
        [this](std::size_t i, MemberResult r) {
          m_record.members[i] = std::move(r);
          write_record(m_opts.state_dir, m_record);
          line(m_record.members[i]);
        },
        -1);
  }

  FleetStageResult finish(Millis took) {
    int code = fleet_exit_code(m_record, m_ran);
    m_record.exit_code = code;
    m_record.finished = now_iso8601();
    write_record(m_opts.state_dir, m_record);
    std::map<std::string, int> count;
    for (const auto& m : m_record.members) ++count[m.outcome];
    std::string summary;
    for (const char* o : {"ok", "rolled_back", "needs_human", "refused", "not_started", "skipped"})
      if (count[o]) summary += (summary.empty() ? "" : ", ") + std::to_string(count[o]) + " " + o;
    m_rep.message(
        code == 0 ? report::Level::Info : report::Level::Warn,
        "fleet " + m_env.name + ": " + (summary.empty() ? "no database" : summary) + " (run " + m_record.run_id + ")");
    if (code != 0)
      m_rep.message(report::Level::Hint,
                    "the databases not ok run again with: ferry run " + m_pb.name + " --resume " + m_record.run_id);
    std::string outcome = code == 0                           ? "succeeded"
                          : code == exit_code::k_failed_dirty ? "needs attention"
                          : code == exit_code::k_refused      ? "refused"
                                                              : "rolled back";
    m_rep.stage_finished(m_env.name, outcome, took);
    return {code, outcome, code == 0 ? "" : summary, to_json(m_record)};
  }

  const config::Playbook& m_pb;
  const config::Environment& m_env;
  report::Reporter& m_rep;
  const RunOptions& m_opts;
  ChildSpec m_child;
  std::unique_ptr<transport::Transports> m_transports;  // the shared tunnel's session (database.tunnel)
  std::unique_ptr<transport::Tunnel> m_tunnel;
  FleetRecord m_record;
  FleetPlan m_plan;
  std::vector<std::size_t> m_ran;  // this invocation's databases, in the order they finished
  std::size_t m_total = 0;
  std::atomic<bool> m_stop{false};
  std::atomic<int> m_running{0};
  int m_failures = 0;
  long long m_done_ms = 0;
};

}  // namespace

FleetStageResult run_fleet_stage(const config::Project& project, const config::Playbook& pb,
                                 const config::Environment& env, report::Reporter& rep, const RunOptions& opts,
                                 const std::string& run_id) {
  return FleetStage(project, pb, env, rep, opts).run(run_id);
}

// --only/--exclude/--shard/--resume select databases of a fleet: refused on a run with none.
void check_fleet_flags(const config::Project& project, const std::vector<std::string>& stages,
                       const FleetRunOptions& f) {
  if (f.only.empty() && f.exclude.empty() && f.shard.empty() && !f.resume) return;
  for (const auto& s : stages)
    if (project.environment(s).database.fleet()) return;
  throw Error(ErrorKind::Config,
              "--only, --exclude, --shard and --resume select databases of a fleet environment; "
              "this run has none");
}

// The fleet stages' per-database results: on stdout with --json, and in the --report file.
void report_fleets(const RunOptions& opts, const std::string& run_id, const nlohmann::json& fleets, int code,
                   const std::string& outcome) {
  if (opts.fleet.json)
    std::cout << nlohmann::json{{"schema_version", 1},
                                {"run_id", run_id},
                                {"outcome", outcome},
                                {"exit_code", code},
                                {"fleets", fleets}}
                     .dump(2)
              << "\n";
  if (opts.report_file.empty()) return;
  try {
    auto doc = nlohmann::json::parse(read_file(opts.report_file));
    doc["fleets"] = fleets;
    std::ofstream(opts.report_file, std::ios::trunc) << doc.dump(2) << '\n';
  } catch (const std::exception&) {
    // the report was not written (its own error was reported): nothing to add to
  }
}

std::string resume_stage(const RunOptions& opts, const config::Playbook& pb) {
  auto record = read_record(opts.state_dir, *opts.fleet.resume);
  if (record.playbook != pb.name)
    throw Error(ErrorKind::Config,
                "fleet run " + record.run_id + " ran playbook '" + record.playbook + "', not '" + pb.name + "'");
  if (opts.only_env && *opts.only_env != record.environment)
    throw Error(ErrorKind::Config,
                "fleet run " + record.run_id + " ran stage '" + record.environment + "', not '" + *opts.only_env + "'");
  return record.environment;
}

}  // namespace ferry::run
