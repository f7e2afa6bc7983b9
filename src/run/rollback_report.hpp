// `ferry rollback --json` (stdout) and `--report FILE`: one JSON document (schema_version 1)
// with the plan, each step's result and the outcome, written when the run finishes.
#pragma once
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "config/model.hpp"
#include "report/reporter.hpp"

namespace ferry::run {

struct RollbackOptions;

class RollbackDocument : public report::Reporter {
 public:
  RollbackDocument(std::string report_file, bool to_stdout, bool dry_run)
      : m_file(std::move(report_file)), m_stdout(to_stdout), m_dry_run(dry_run) {}
  void set_plan(nlohmann::json plan) { m_doc["plan"] = std::move(plan); }

  void run_started(const std::string& run_id, const std::string&, const std::vector<std::string>& stages) override;
  void stage_started(const std::string&, const std::string&) override {}
  void step_started(const std::string&) override {}
  void step_progress(const std::string&, const std::string&) override {}
  void step_finished(const std::string& step, const std::string& summary, Millis took) override;
  void step_failed(const std::string& step, const std::string& error, Millis took) override;
  void step_compensated(const std::string&, bool, const std::string&, Millis) override {}
  void message(report::Level level, const std::string& text) override;
  void stage_finished(const std::string&, const std::string&, Millis) override {}
  void run_finished(const std::string& outcome, int exit_code, Millis took) override;
  // The code versions recorded before the first step (services.NAME.version).
  void stage_summary(const report::StageSummary& s) override { m_doc["code_versions"] = s.code_versions; }

 private:
  std::string m_file;
  bool m_stdout;
  bool m_dry_run;
  nlohmann::json m_doc = nlohmann::json::object();
};

// Console (none with --json: stdout carries the document), diagnostics log, journal, and the
// document when --json or --report asks for it (`doc` then points at it).
report::Fanout make_rollback_reporter(const config::Project& project, const std::string& run_id,
                                      const RollbackOptions& opts, RollbackDocument*& doc);

}  // namespace ferry::run
