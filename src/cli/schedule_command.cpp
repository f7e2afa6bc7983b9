#include "cli/schedule_command.hpp"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>

#include "config/loader.hpp"
#include "core/error.hpp"
#include "core/text.hpp"

namespace fs = std::filesystem;

namespace ferry::cli {

namespace {

// Waits written into every scheduled run: a lock held by another run (a slow one, or a person
// at a terminal) is waited for, and a database restarting at that moment is retried.
constexpr const char* k_wait_lock = "30m";
constexpr const char* k_wait_ready = "2m";

std::vector<std::string> run_argv(const ScheduleSpec& s) {
  std::vector<std::string> a = {s.ferry,    "-C",          s.root,      "-q",           "run",
                                s.playbook, "--wait-lock", k_wait_lock, "--wait-ready", k_wait_ready};
  if (s.yes) a.push_back("--yes");
  return a;
}

// A path in a setting that takes the rest of the line as is (WorkingDirectory=, LoadCredential=):
// only systemd's specifiers need escaping.
std::string systemd_path(const std::string& path) {
  std::string out;
  for (char c : path) out += c == '%' ? std::string("%%") : std::string(1, c);
  return out;
}

std::string cron_schedule(const std::string& every) {
  if (every == "daily") return "@daily";
  if (every == "hourly") return "@hourly";
  if (every == "weekly") return "@weekly";
  return "";
}

}  // namespace

std::string systemd_word(const std::string& word) {
  std::string out;
  bool plain = !word.empty();
  for (char c : word) {
    if (c == '%')
      out += "%%";
    else if (c == '$')
      out += "$$";
    else if (c == '"' || c == '\\')
      out += std::string("\\") + c;
    else
      out += c;
    if (c == ' ' || c == '\t' || c == '"' || c == '\'' || c == '\\' || c == ';') plain = false;
  }
  return plain ? out : "\"" + out + "\"";
}

ScheduleUnits make_schedule(const ScheduleSpec& s) {
  ScheduleUnits u;
  std::string exec;
  for (const auto& w : run_argv(s)) exec += (exec.empty() ? "" : " ") + systemd_word(w);
  u.service = "[Unit]\nDescription=ferry: playbook " + systemd_path(s.playbook) + " of " + systemd_path(s.root) +
              "\nWants=network-online.target\nAfter=network-online.target\n\n[Service]\nType=oneshot\n";
  if (s.system && !s.user.empty()) u.service += "User=" + s.user + "\n";
  u.service += "WorkingDirectory=" + systemd_path(s.root) + "\nExecStart=" + exec + "\n";
  for (const auto& [id, file] : s.credentials) u.service += "LoadCredential=" + id + ":" + systemd_path(file) + "\n";
  u.service +=
      "# On stop, SIGTERM goes to ferry alone (KillMode=mixed): it rolls back, proves, and exits;\n"
      "# only after TimeoutStopSec (longer than any rollback) is the rest killed.\n"
      "KillMode=mixed\nKillSignal=SIGTERM\nTimeoutStopSec=1h\n"
      "# exit 0 done; 1 failed and undone; 2 a human must act; 3 refused (locked, gate, drift); 64 config\n";
  u.timer = "[Unit]\nDescription=ferry: playbook " + systemd_path(s.playbook) + " (" + systemd_path(s.every) +
            ")\n\n[Timer]\nOnCalendar=" + s.every + "\nPersistent=true\nUnit=" + s.unit +
            ".service\n\n[Install]\nWantedBy=timers.target\n";
  std::string cmd;
  for (const auto& w : run_argv(s)) {
    std::string q = shell_quote(w);
    std::string esc;
    for (char c : q) esc += c == '%' ? std::string("\\%") : std::string(1, c);  // cron turns % into a newline
    cmd += (cmd.empty() ? "" : " ") + esc;
  }
  std::string when = cron_schedule(s.every);
  u.crontab =
      "# no flock needed: ferry takes its own lock in each database; a second run waits up to " +
      std::string(k_wait_lock) + ", then exits 3\n" +
      (when.empty() ? "# '" + s.every + "' has no cron shorthand: replace M H DOM MON DOW with its five fields\n" +
                          "M H DOM MON DOW " + cmd + "\n"
                    : when + " " + cmd + "\n");
  return u;
}

CLI::App* add_schedule_command(CLI::App& app, ScheduleOptions& o) {
  auto* sub = app.add_subcommand("schedule", "print (or --install) a systemd service + timer and a crontab line");
  sub->add_option("PLAYBOOK", o.playbook, "a playbook name under playbooks/, or a path")->required();
  sub->add_option("--every", o.every, "daily, hourly, weekly or a systemd OnCalendar= expression");
  sub->add_option("--user", o.user, "the user the service runs as (system units)");
  sub->add_flag("--install", o.install, "write the units (/etc/systemd/system as root, else ~/.config/systemd/user)");
  return sub;
}

int cmd_schedule(const Globals& g, const ScheduleOptions& o) {
  if (o.every.empty() || o.every.find_first_of("\n\r") != std::string::npos)
    throw Error(ErrorKind::Config, "--every must be daily, hourly, weekly or one OnCalendar= expression");
  auto shape = config::load_project(g.root, std::set<std::string>{});
  auto pb = config::load_playbook(shape, o.playbook);
  ScheduleSpec s;
  std::error_code ec;
  s.ferry = fs::read_symlink("/proc/self/exe", ec).string();
  s.root = fs::absolute(g.root).lexically_normal().string();
  while (s.root.size() > 1 && s.root.back() == '/') s.root.pop_back();
  s.playbook = o.playbook;
  s.unit = "ferry-" + pb.name;
  s.every = o.every;
  s.user = o.user;
  s.system = geteuid() == 0 || !o.install;
  for (const auto& st : pb.stages) {
    const auto& env = shape.environments.at(st);
    s.yes |= env.is_protected;
    if (!env.database.password_file.empty())
      s.credentials.push_back({env.name + ".password", env.database.password_file});
  }
  auto u = make_schedule(s);
  if (!o.install) {
    std::cout << "# /etc/systemd/system/" << s.unit << ".service\n"
              << u.service << "\n# /etc/systemd/system/" << s.unit << ".timer\n"
              << u.timer << "\n# crontab -e\n"
              << u.crontab;
    return 0;
  }
  const char* home = std::getenv("HOME");
  fs::path dir = s.system ? fs::path("/etc/systemd/system") : fs::path(home ? home : "") / ".config/systemd/user";
  fs::create_directories(dir, ec);
  for (const auto& [ext, text] : {std::pair{".service", u.service}, std::pair{".timer", u.timer}}) {
    fs::path p = dir / (s.unit + ext);
    std::ofstream f(p);
    f << text;
    if (!f.flush()) throw Error(ErrorKind::Config, "cannot write '" + p.string() + "'");
    std::cout << "wrote " << p.string() << "\n";
  }
  std::string ctl = s.system ? "systemctl" : "systemctl --user";
  std::cout << "next: " << ctl << " daemon-reload && " << ctl << " enable --now " << s.unit << ".timer\n";
  return 0;
}

}  // namespace ferry::cli
