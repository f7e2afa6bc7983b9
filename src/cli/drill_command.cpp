#include "cli/drill_command.hpp"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <ctime>
#include <iostream>

#include "config/loader.hpp"
#include "core/error.hpp"
#include "report/metrics.hpp"
#include "run/drill.hpp"
#include "core/interrupt.hpp"
#include "steps/backup.hpp"

namespace ferry::cli {

namespace {

steps::BackupMeta pick(const config::Environment& env, steps::Transports& t, const std::string& id) {
  for (const auto& b : steps::list_backups(env, t))
    if (id == "latest" ? b.verified : b.id == id) return b;
  throw Error(ErrorKind::Command, id == "latest"
                                      ? "no verified backup of '" + env.name + "' in " + env.backup->dir
                                      : "no backup '" + id + "' of '" + env.name + "' in " + env.backup->dir);
}

// ferry_drill_restore_seconds (a proven restore's time), ferry_drill_last_ok, and
// ferry_drill_last_success_timestamp, labelled by environment.
void write_drill_metrics(const std::string& path, const std::string& env_name, const run::DrillResult& r) {
  if (path.empty()) return;
  std::string env = report::metric_label("environment", env_name);
  std::vector<report::MetricSample> samples = {{"ferry_drill_last_ok", env, r.ok ? 1.0 : 0.0}};
  if (r.ok) {
    samples.push_back({"ferry_drill_restore_seconds", env, static_cast<double>(r.duration_ms) / 1000.0});
    samples.push_back({"ferry_drill_last_success_timestamp", env, static_cast<double>(std::time(nullptr))});
  }
  report::update_metrics_file(path, samples);
}

std::string seconds(long long ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(ms) / 1000.0);
  return buf;
}

}  // namespace

CLI::App* add_drill_command(CLI::App& backup, DrillOptions& o) {
  auto* c = backup.add_subcommand("verify", "check a backup: sha256 and pg_restore -l; --restore: a restore drill");
  c->add_option("ENV", o.env, "environment")->required();
  c->add_option("ID", o.id, "backup ID, or 'latest' (default)");
  c->add_flag("--restore", o.restore,
              "restore into a scratch database (on backup.drill's server, or the same one), prove it, record the "
              "time, drop it");
  return c;
}

int cmd_drill(const Globals& g, const DrillOptions& o, const std::string& metrics_file) {
  auto project = config::load_project(g.root, std::set<std::string>{o.env});
  const auto& env = project.environment(o.env);
  if (!env.backup) throw Error(ErrorKind::Config, env.file + ": no 'backup:' section");
  steps::Transports t(env);
  auto meta = pick(env, t, o.id);
  if (!o.restore) {
    std::string bad = run::check_backup_readable(env, t, meta);
    if (!bad.empty()) throw Error(ErrorKind::Command, "backup " + meta.id + " is not readable: " + bad);
    std::cout << "backup " << meta.id << ": sha256 matches, pg_restore can read it (not restored: --restore)\n";
    return 0;
  }
  install_signal_handlers();
  auto r = run::restore_drill(project, env, t, meta);
  if (!r.scratch.empty() && !interrupted()) write_drill_metrics(metrics_file, env.name, r);
  std::string recorded;
  if (!r.scratch.empty() && !interrupted()) {  // a restore was attempted: its outcome is on record
    try {
      run::record_drill(env, t, meta, r);
      recorded = "; recorded in " + meta.id + ".json";
    } catch (const Error& e) {
      std::cerr << "ferry: warning: " << project.secrets.redact(e.what()) << "\n";
      if (r.ok) return exit_code::k_failed_clean;
    }
  }
  if (!r.ok)
    throw Error(ErrorKind::Command, "restore drill of " + meta.id + " failed: " + r.why +
                                        (r.scratch.empty() ? "" : " (scratch database " + r.scratch + " dropped)") +
                                        "; " + env.name + "'s database was not touched");
  std::cout << "drill " << meta.id << ": restored into scratch database " << r.scratch << " on " << r.server << " in "
            << seconds(r.duration_ms) << " (RTO); fingerprint and row counts equal the backup's; scratch dropped"
            << recorded << "\n";
  return 0;
}

}  // namespace ferry::cli
