#include "report/reporter.hpp"

namespace ferry::report {

void Fanout::run_started(const std::string& run_id, const std::string& playbook,
                         const std::vector<std::string>& stages) {
  for (auto& t : m_targets) t->run_started(run_id, r(playbook), stages);
}
void Fanout::stage_started(const std::string& env, const std::string& target) {
  for (auto& t : m_targets) t->stage_started(env, r(target));
}
void Fanout::step_started(const std::string& step) {
  for (auto& t : m_targets) t->step_started(r(step));
}
void Fanout::step_progress(const std::string& step, const std::string& progress) {
  for (auto& t : m_targets) t->step_progress(r(step), r(progress));
}
void Fanout::step_finished(const std::string& step, const std::string& summary, Millis took) {
  for (auto& t : m_targets) t->step_finished(r(step), r(summary), took);
}
void Fanout::step_failed(const std::string& step, const std::string& error, Millis took) {
  for (auto& t : m_targets) t->step_failed(r(step), r(error), took);
}
void Fanout::step_compensated(const std::string& step, bool ok, const std::string& summary, Millis took) {
  for (auto& t : m_targets) t->step_compensated(r(step), ok, r(summary), took);
}
void Fanout::message(Level level, const std::string& text) {
  for (auto& t : m_targets) t->message(level, r(text));
}
void Fanout::stage_finished(const std::string& env, const std::string& outcome, Millis took) {
  for (auto& t : m_targets) t->stage_finished(env, outcome, took);
}
void Fanout::run_finished(const std::string& outcome, int exit_code, Millis took) {
  for (auto& t : m_targets) t->run_finished(outcome, exit_code, took);
}

void Fanout::stage_summary(const StageSummary& s) {
  StageSummary c = s;
  for (auto* f : {&c.playbook, &c.version_before, &c.version_after, &c.backup_file, &c.error}) *f = r(*f);
  for (auto& [name, v] : c.code_versions) v = r(v);
  for (auto& t : m_targets) t->stage_summary(c);
}

}  // namespace ferry::report
