// Every run event to the diagnostics log's file and syslog sinks (log/), with its timing.
#include "log/log.hpp"
#include "report/reporter.hpp"

namespace ferry::report {

namespace {
using log::Event;

class LogReporter : public Reporter {
 public:
  void run_started(const std::string& run_id, const std::string& playbook,
                   const std::vector<std::string>& stages) override {
    std::string s;
    for (const auto& st : stages) s += (s.empty() ? "" : " -> ") + st;
    log::event(Event::Info, "run " + run_id + " playbook " + playbook + " stages " + s);
  }
  void stage_started(const std::string& env, const std::string& target) override {
    m_stage = env;
    log::event(Event::Info, "stage " + env + " on " + target);
  }
  void step_started(const std::string& step) override { log::debug("[" + m_stage + "] " + step + " started"); }
  void step_progress(const std::string& step, const std::string& progress) override {
    log::trace("[" + m_stage + "] " + step + ": " + progress);
  }
  void step_finished(const std::string& step, const std::string& summary, Millis took) override {
    log::event(Event::Info, "[" + m_stage + "] ok " + step + ": " + summary + " (" + format_duration(took) + ")");
  }
  void step_failed(const std::string& step, const std::string& error, Millis took) override {
    log::event(Event::Error, "[" + m_stage + "] FAILED " + step + ": " + error + " (" + format_duration(took) + ")");
  }
  void step_compensated(const std::string& step, bool ok, const std::string& summary, Millis took) override {
    log::event(ok ? Event::Info : Event::Error, "[" + m_stage + "] " + (ok ? "undone " : "UNDO FAILED ") + step + ": " +
                                                    summary + " (" + format_duration(took) + ")");
  }
  void message(Level level, const std::string& text) override {
    Event e = level == Level::Error ? Event::Error : level == Level::Warn ? Event::Warn : Event::Info;
    log::event(e, "[" + m_stage + "] " + (level == Level::Hint ? "hint: " : "") + text);
  }
  void stage_finished(const std::string& env, const std::string& outcome, Millis took) override {
    log::event(outcome == "succeeded" ? Event::Info : Event::Error,
               "stage " + env + " " + outcome + " in " + format_duration(took));
  }
  void run_finished(const std::string& outcome, int exit_code, Millis took) override {
    log::event(exit_code == 0 ? Event::Info : Event::Error,
               "run " + outcome + " in " + format_duration(took) + " (exit " + std::to_string(exit_code) + ")");
    log::flush();
  }

 private:
  std::string m_stage;
};
}  // namespace

std::unique_ptr<Reporter> make_log_reporter() { return std::make_unique<LogReporter>(); }

}  // namespace ferry::report
