#include "run/rollback_report.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>

#include "core/duration.hpp"
#include "run/runner.hpp"

namespace ferry::run {

using nlohmann::json;
namespace fs = std::filesystem;

void RollbackDocument::run_started(const std::string& run_id, const std::string&,
                                   const std::vector<std::string>& stages) {
  m_doc["schema_version"] = 1;
  m_doc["command"] = "rollback";
  m_doc["run_id"] = run_id;
  m_doc["environment"] = stages.empty() ? "" : stages.front();
  m_doc["dry_run"] = m_dry_run;
  m_doc["started"] = now_iso8601();
  m_doc["steps"] = json::array();
  m_doc["messages"] = json::array();
  m_doc["plan"] = nullptr;
  m_doc["code_versions"] = json::object();
}

void RollbackDocument::step_finished(const std::string& step, const std::string& summary, Millis took) {
  m_doc["steps"].push_back({{"step", step}, {"ok", true}, {"summary", summary}, {"duration_ms", took.count()}});
}

void RollbackDocument::step_failed(const std::string& step, const std::string& error, Millis took) {
  m_doc["steps"].push_back({{"step", step}, {"ok", false}, {"error", error}, {"duration_ms", took.count()}});
}

void RollbackDocument::message(report::Level level, const std::string& text) {
  const char* names[] = {"info", "warning", "error", "hint"};
  m_doc["messages"].push_back({{"level", names[static_cast<int>(level)]}, {"text", text}});
}

void RollbackDocument::run_finished(const std::string& outcome, int exit_code, Millis took) {
  m_doc["outcome"] = outcome;
  m_doc["exit_code"] = exit_code;
  m_doc["duration_ms"] = took.count();
  m_doc["finished"] = now_iso8601();
  std::string text = m_doc.dump(2) + "\n";
  if (m_stdout) std::cout << text << std::flush;
  if (m_file.empty()) return;
  int fd = ::open(m_file.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);  // private before it is written
  if (fd >= 0) {
    ::fchmod(fd, 0600);
    ::close(fd);
  }
  std::ofstream(m_file, std::ios::trunc) << text;
}

report::Fanout make_rollback_reporter(const config::Project& project, const std::string& run_id,
                                      const RollbackOptions& opts, RollbackDocument*& doc) {
  report::Fanout fan(project.secrets);
  if (!opts.json) fan.add(report::make_console_reporter(opts.color, opts.quiet, false));
  fan.add(report::make_log_reporter());
  fs::create_directories(fs::path(opts.state_dir) / "runs");
  fan.add(report::make_journal((fs::path(opts.state_dir) / "runs" / (run_id + ".jsonl")).string()));
  doc = nullptr;
  if (opts.json || !opts.report_file.empty()) {
    auto d = std::make_unique<RollbackDocument>(opts.report_file, opts.json, opts.dry_run);
    doc = d.get();
    fan.add(std::move(d));
  }
  return fan;
}

}  // namespace ferry::run
