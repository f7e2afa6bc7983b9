// `ferry schedule PLAYBOOK --every daily|hourly|CALENDAR [--user U] [--install]`: a systemd
// service + timer pair and the equivalent crontab line for an unattended run.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "cli/commands.hpp"

namespace CLI {
class App;
}

namespace ferry::cli {

struct ScheduleOptions {
  std::string playbook;
  std::string every = "daily";
  std::string user;      // User= of a system unit
  bool install = false;  // write the units instead of printing them
};

// What the units are made of (everything resolved: absolute paths).
struct ScheduleSpec {
  std::string ferry;     // absolute path of the ferry binary
  std::string root;      // absolute project directory
  std::string playbook;  // as given
  std::string unit;      // "ferry-NAME"
  std::string every;     // daily | hourly | a systemd OnCalendar= expression
  std::string user;
  bool system = true;                                            // a system unit (User= allowed) or a user unit
  bool yes = false;                                              // a stage is protected: the run must confirm it
  std::vector<std::pair<std::string, std::string>> credentials;  // ENV.password -> password_file
};

struct ScheduleUnits {
  std::string service;
  std::string timer;
  std::string crontab;  // one comment line and one crontab line
};

ScheduleUnits make_schedule(const ScheduleSpec& spec);
// A word as systemd's ExecStart= reads it back (quotes, %% and $$ where needed).
std::string systemd_word(const std::string& word);

CLI::App* add_schedule_command(CLI::App& app, ScheduleOptions& o);
int cmd_schedule(const Globals& g, const ScheduleOptions& o);

}  // namespace ferry::cli
