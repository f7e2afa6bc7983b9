// The Runner and the steps never print: they tell a Reporter. Console output, the journal
// (.ferry/runs/RUN_ID.jsonl) and the --report file are all Reporters behind one Fanout,
// which redacts secrets from every string before any of them sees it.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/duration.hpp"
#include "core/secrets.hpp"

namespace ferry::report {

enum class Level { Info, Warn, Error, Hint };

// What a stage ended with, for notifications and metrics (after stage_finished).
struct StageSummary {
  std::string run_id;
  std::string playbook;
  std::string environment;
  std::string outcome;  // succeeded | failed | rolled_back | needs_attention | refused
  int exit_code = 0;
  std::string version_before;
  std::string version_after;
  std::string backup_id;    // "" when the stage took no backup
  std::string backup_file;  // on backup.on
  long long backup_size = 0;
  int pending = -1;  // migrations pending at the start (-1: not known)
  // services.NAME.version's output for each service, recorded before the first step (the code
  // the stage started from, FERRY_PREVIOUS_VERSION of a code rollback).
  std::map<std::string, std::string> code_versions;
  std::string error;
  Millis took{0};
};

class Reporter {
 public:
  virtual ~Reporter() = default;
  virtual void run_started(const std::string& run_id, const std::string& playbook,
                           const std::vector<std::string>& stages) = 0;
  virtual void stage_started(const std::string& env, const std::string& target) = 0;
  virtual void step_started(const std::string& step) = 0;
  virtual void step_progress(const std::string& step, const std::string& progress) = 0;
  virtual void step_finished(const std::string& step, const std::string& summary, Millis took) = 0;
  virtual void step_failed(const std::string& step, const std::string& error, Millis took) = 0;
  virtual void step_compensated(const std::string& step, bool ok, const std::string& summary, Millis took) = 0;
  virtual void message(Level level, const std::string& text) = 0;
  virtual void stage_finished(const std::string& env, const std::string& outcome, Millis took) = 0;
  virtual void run_finished(const std::string& outcome, int exit_code, Millis took) = 0;
  virtual void stage_summary(const StageSummary&) {}
};

// Console: one line per step with its result and duration; colour only at a TTY.
std::unique_ptr<Reporter> make_console_reporter(bool color, bool quiet, bool verbose);
// Appends one JSON object per event to `path` (flushed per line: a crash keeps what happened).
std::unique_ptr<Reporter> make_journal(const std::string& path);
// Collects every event and writes the whole run as one JSON document at run_finished.
std::unique_ptr<Reporter> make_report_file(const std::string& path);
// Rewrites `path` (a Prometheus textfile) atomically at run_finished: last outcome per
// environment and playbook, step durations, the last good backup, pending migrations.
std::unique_ptr<Reporter> make_metrics_file(const std::string& path);
// Every event to the diagnostics log (log/): info, warnings and errors at their levels.
std::unique_ptr<Reporter> make_log_reporter();

class Fanout : public Reporter {
 public:
  explicit Fanout(const Secrets& secrets) : m_secrets(secrets) {}
  void add(std::unique_ptr<Reporter> r) { m_targets.push_back(std::move(r)); }

  void run_started(const std::string& run_id, const std::string& playbook,
                   const std::vector<std::string>& stages) override;
  void stage_started(const std::string& env, const std::string& target) override;
  void step_started(const std::string& step) override;
  void step_progress(const std::string& step, const std::string& progress) override;
  void step_finished(const std::string& step, const std::string& summary, Millis took) override;
  void step_failed(const std::string& step, const std::string& error, Millis took) override;
  void step_compensated(const std::string& step, bool ok, const std::string& summary, Millis took) override;
  void message(Level level, const std::string& text) override;
  void stage_finished(const std::string& env, const std::string& outcome, Millis took) override;
  void run_finished(const std::string& outcome, int exit_code, Millis took) override;
  void stage_summary(const StageSummary& s) override;

 private:
  std::string r(const std::string& s) const { return m_secrets.redact(s); }
  const Secrets& m_secrets;
  std::vector<std::unique_ptr<Reporter>> m_targets;
};

}  // namespace ferry::report
