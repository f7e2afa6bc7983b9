// Notifications and metrics for `ferry backup` (and later commands), as `ferry run` has them.
#include "run/command_reports.hpp"

#include "steps/notify.hpp"

namespace ferry::run {

void add_command_reporters(report::Fanout& fan, const config::Project& project, const std::string& metrics_file) {
  static const config::Playbook k_no_playbook;  // the notifier keeps a reference: only the environment's webhooks
  fan.add(steps::make_notifier(project, k_no_playbook));
  if (!metrics_file.empty()) fan.add(report::make_metrics_file(metrics_file));
}

report::StageSummary command_summary(const std::string& run_id, const std::string& command, const std::string& env,
                                     const std::string& outcome, int exit_code, Millis took,
                                     const steps::BackupMeta* backup, const std::string& error) {
  report::StageSummary s;
  s.run_id = run_id;
  s.playbook = command;
  s.environment = env;
  s.outcome = outcome;
  s.exit_code = exit_code;
  s.error = error;
  s.took = took;
  if (backup) {
    s.version_before = s.version_after = backup->version;
    s.backup_id = backup->id;
    s.backup_file = backup->file;
    s.backup_size = backup->size;
  }
  return s;
}

}  // namespace ferry::run
