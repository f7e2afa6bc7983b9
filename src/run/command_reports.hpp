// Webhooks (`notify:`) and --metrics-file for commands other than `ferry run` (today: `ferry
// backup`): one helper each command calls with a line, so they report as a run's stage does.
#pragma once
#include <string>

#include "config/model.hpp"
#include "report/reporter.hpp"
#include "steps/context.hpp"

namespace ferry::run {

// Adds the environment's webhooks and, when `metrics_file` is set, the metrics reporter.
void add_command_reporters(report::Fanout& fan, const config::Project& project, const std::string& metrics_file);

// The summary such a command ends with (its `playbook` label is the command's name).
report::StageSummary command_summary(const std::string& run_id, const std::string& command, const std::string& env,
                                     const std::string& outcome, int exit_code, Millis took,
                                     const steps::BackupMeta* backup = nullptr, const std::string& error = "");

}  // namespace ferry::run
