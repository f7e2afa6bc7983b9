// --metrics-file: a Prometheus textfile (node_exporter's textfile collector format), merged
// with what earlier runs wrote there (other environments, playbooks, the last good backup),
// and replaced atomically: a temporary file in the same directory, then rename.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include "log/log.hpp"
#include "report/metrics.hpp"
#include "report/reporter.hpp"

namespace ferry::report {

namespace {

const std::map<std::string, std::string> k_help = {
    {"ferry_run_last_outcome", "1 for the outcome of the last run of a playbook on an environment, 0 for the others"},
    {"ferry_run_last_exit_code", "exit code of the last run's stage"},
    {"ferry_run_last_timestamp_seconds", "when the last run's stage finished"},
    {"ferry_run_last_success_timestamp_seconds", "when a run's stage last succeeded"},
    {"ferry_stage_duration_seconds", "how long the last run's stage took"},
    {"ferry_step_duration_seconds", "how long each step of the last run's stage took"},
    {"ferry_migrations_pending", "migrations pending after the last run's stage"},
    {"ferry_backup_last_success_timestamp_seconds", "when the last verified backup of a run finished"},
    {"ferry_backup_last_size_bytes", "size of the last verified backup"},
    {"ferry_backup_last_duration_seconds", "how long the last verified backup took"},
    {"ferry_lock_wait_seconds",
     "how long the last run's stage took to hold its lock (connecting, and waiting for another run's lock)"},
    {"ferry_drill_restore_seconds", "how long the last restore drill's restore took (the RTO)"},
    {"ferry_drill_last_success_timestamp", "when a restore drill of an environment's backup last succeeded"},
    {"ferry_drill_last_ok", "1 when the last restore drill of an environment succeeded, else 0"},
};
const char* const k_outcomes[] = {"succeeded", "failed", "rolled_back", "needs_attention", "refused"};

double now_seconds() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count() / 1000.0;
}

std::string escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string number(double v) {
  std::ostringstream s;
  s.precision(15);
  s << v;
  return s.str();
}

using Series = std::map<std::string, std::map<std::string, std::string>>;  // name -> series -> value

// Series earlier runs wrote that this run does not replace (`replaced`: key prefixes dropped).
void merge_previous(const std::string& path, Series& series, const std::vector<std::string>& replaced) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    size_t sp = line.rfind(' ');
    if (sp == std::string::npos) continue;
    std::string key = line.substr(0, sp);
    std::string name = key.substr(0, key.find('{'));
    if (!k_help.count(name)) continue;
    // The steps of an earlier run of this playbook on this environment are replaced.
    if (std::any_of(replaced.begin(), replaced.end(),
                    [&](const std::string& prefix) { return key.rfind(prefix, 0) == 0; }))
      continue;
    series[name].emplace(key, line.substr(sp + 1));  // emplace: this run's value wins
  }
}

void write_series(const std::string& path, Series series, const std::vector<std::string>& replaced) {
  merge_previous(path, series, replaced);
  std::string text;
  for (const auto& [name, values] : series) {
    text += "# HELP " + name + " " + k_help.at(name) + "\n# TYPE " + name + " gauge\n";
    for (const auto& [key, value] : values) text += key + " " + value + "\n";
  }
  namespace fs = std::filesystem;
  fs::path target(path);
  fs::path tmp = target.parent_path() / ("." + target.filename().string() + "." + std::to_string(::getpid()));
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  bool ok = fd >= 0 && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  if (fd >= 0) ::close(fd);
  ok = ok && std::rename(tmp.c_str(), target.c_str()) == 0;
  if (!ok) {
    std::error_code ec;
    fs::remove(tmp, ec);
    log::warn("cannot write the metrics file '" + path + "'");
  }
}

class MetricsFile : public Reporter {
 public:
  explicit MetricsFile(std::string path) : m_path(std::move(path)) {}

  void run_started(const std::string&, const std::string& playbook, const std::vector<std::string>&) override {
    m_playbook = playbook;
  }
  void stage_started(const std::string& env, const std::string&) override {
    m_stage = env;
    m_steps.clear();
    m_migrated = false;
  }
  void step_started(const std::string&) override {}
  void step_progress(const std::string&, const std::string&) override {}
  void step_finished(const std::string& step, const std::string&, Millis took) override {
    if (step == "lock") m_lock_wait = took;  // also its own series: ferry_lock_wait_seconds
    m_steps[step] = took;
    if (step == "migrate") m_migrated = true;
    if (step == "backup") {
      m_backup_at = now_seconds();
      m_backup_took = took;
    }
  }
  void step_failed(const std::string& step, const std::string&, Millis took) override { m_steps[step] = took; }
  void step_compensated(const std::string&, bool, const std::string&, Millis) override {}
  void message(Level, const std::string&) override {}
  void stage_finished(const std::string&, const std::string&, Millis) override {}
  void stage_summary(const StageSummary& s) override {
    std::string run = "environment=\"" + escape(s.environment) + "\",playbook=\"" + escape(s.playbook) + "\"";
    m_replaced_steps.push_back("ferry_step_duration_seconds{" + run + ",");
    double at = now_seconds();
    for (const char* o : k_outcomes)
      set("ferry_run_last_outcome", run + ",outcome=\"" + o + "\"", s.outcome == o ? 1 : 0);
    set("ferry_run_last_exit_code", run, s.exit_code);
    set("ferry_run_last_timestamp_seconds", run, at);
    if (s.outcome == "succeeded") set("ferry_run_last_success_timestamp_seconds", run, at);
    set("ferry_stage_duration_seconds", run, s.took.count() / 1000.0);
    if (m_lock_wait) set("ferry_lock_wait_seconds", run, m_lock_wait->count() / 1000.0);
    m_lock_wait.reset();
    for (const auto& [step, took] : m_steps)
      set("ferry_step_duration_seconds", run + ",step=\"" + escape(step) + "\"", took.count() / 1000.0);
    if (s.pending >= 0) set("ferry_migrations_pending", run, s.outcome == "succeeded" && m_migrated ? 0 : s.pending);
    if (!s.backup_id.empty() && m_backup_at > 0) {
      std::string env = "environment=\"" + escape(s.environment) + "\"";
      set("ferry_backup_last_success_timestamp_seconds", env, m_backup_at);
      set("ferry_backup_last_size_bytes", env, static_cast<double>(s.backup_size));
      set("ferry_backup_last_duration_seconds", env, m_backup_took.count() / 1000.0);
    }
    m_backup_at = 0;
  }
  void run_finished(const std::string&, int, Millis) override { write(); }

 private:
  void set(const std::string& name, const std::string& labels, double v) {
    m_series[name][name + "{" + labels + "}"] = number(v);
  }

  void write() { write_series(m_path, m_series, m_replaced_steps); }

  std::string m_path;
  std::string m_playbook;
  std::string m_stage;
  std::map<std::string, Millis> m_steps;
  std::vector<std::string> m_replaced_steps;  // step series of earlier runs this run replaces
  bool m_migrated = false;
  std::optional<Millis> m_lock_wait;  // the stage's "lock" line, when it got that far
  double m_backup_at = 0;
  Millis m_backup_took{0};
  Series m_series;
};

}  // namespace

std::unique_ptr<Reporter> make_metrics_file(const std::string& path) { return std::make_unique<MetricsFile>(path); }

std::string metric_label(const std::string& name, const std::string& value) {
  return name + "=\"" + escape(value) + "\"";
}

void update_metrics_file(const std::string& path, const std::vector<MetricSample>& samples) {
  if (path.empty()) return;
  Series series;
  for (const auto& s : samples) series[s.name][s.name + "{" + s.labels + "}"] = number(s.value);
  write_series(path, std::move(series), {});
}

}  // namespace ferry::report
