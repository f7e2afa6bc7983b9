#include "run/fleet_child.hpp"

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/interrupt.hpp"
#include "core/output.hpp"
#include "core/text.hpp"
#include "run/fleet_gate.hpp"
#include "run/fleet_members.hpp"
#include "transport/transport.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace ferry::run {

namespace {

std::string self_exe() {
  std::error_code ec;
  auto p = fs::read_symlink("/proc/self/exe", ec);
  if (ec) throw Error(ErrorKind::Internal, "cannot find ferry's own program: " + ec.message());
  return p.string();
}

std::string first_line(const std::string& s) {
  std::string c = console_part(s);
  return trim(c.substr(0, c.find('\n')));
}

// The failure a child's --report names: its last failed step's error, else its outcome.
void read_report(const std::string& path, MemberResult& m) {
  json doc;
  try {
    doc = json::parse(read_file(path));
  } catch (const std::exception&) {
    return;
  }
  m.run_id = doc.value("run_id", "");
  std::string failed;
  for (const auto& e : doc.value("events", json::array()))
    if (e.value("event", "") == "step_failed")
      failed = e.value("step", "") + ": " + first_line(e.value("error", ""));
    else if (e.value("event", "") == "message" && e.value("level", "") == "error" && failed.empty())
      failed = first_line(e.value("text", ""));
  m.message = m.exit_code == 0 ? "" : (failed.empty() ? doc.value("outcome", "") : failed);
}

transport::CommandResult run_child(const ChildSpec& spec, const std::string& name, std::vector<std::string> argv,
                                   long long& took_ms) {
  transport::Command cmd;
  cmd.argv = std::move(argv);
  cmd.env = spec.env;
  cmd.env["PGAPPNAME"] = "ferry/" + spec.run_id + "/" + name;
  cmd.env[k_listed_member_env] = name;
  // A gate on a required fleet: the members of this run share its answer (run/fleet_gate.cpp).
  if (!spec.report_dir.empty()) cmd.env[k_gate_cache_env] = (fs::path(spec.report_dir) / "gate").string();
  cmd.should_stop = [] { return interrupted(); };  // forwarded as SIGTERM: the child rolls back
  cmd.defer_stop_signals = true;  // a stop as the child starts waits for its handlers: no half-started kill
  auto started = std::chrono::steady_clock::now();
  transport::LocalTransport local;
  auto res = local.run(cmd);
  took_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
  return res;
}

std::vector<std::string> base_argv(const ChildSpec& spec) {
  std::vector<std::string> argv = {self_exe(), "-C", spec.root, "--color", "never"};
  argv.insert(argv.end(), spec.global_flags.begin(), spec.global_flags.end());
  return argv;
}

}  // namespace

std::string outcome_of(int exit_code) {
  switch (exit_code) {
    case exit_code::k_ok:
      return "ok";
    case exit_code::k_failed_clean:
      return "rolled_back";
    case exit_code::k_refused:
    case exit_code::k_usage:
      return "refused";
    default:
      return "needs_human";
  }
}

MemberResult run_member(const ChildSpec& spec, const std::string& name, std::size_t index) {
  MemberResult m;
  m.name = name;
  std::string report = (fs::path(spec.report_dir) / (std::to_string(index) + ".json")).string();
  auto argv = base_argv(spec);
  argv.insert(argv.end(), {"run", spec.playbook, "--env", spec.environment, "--database", name, "--yes", "--quiet",
                           "--report", report});
  try {
    auto res = run_child(spec, name, argv, m.duration_ms);
    m.exit_code = res.exit_code;
    m.outcome = outcome_of(res.exit_code);
    read_report(report, m);
    if (m.exit_code != 0 && m.message.empty()) m.message = first_line(res.last_line());
  } catch (const Error& e) {
    m.exit_code = exit_code::k_refused;
    m.outcome = "refused";
    m.message = e.what();
  }
  std::error_code ec;
  fs::remove(report, ec);
  return m;
}

void revert_member(const ChildSpec& spec, MemberResult& m) {
  auto argv = base_argv(spec);
  argv.insert(argv.end(), {"rollback", spec.environment, "--database", m.name, "--backup", "before-run:" + m.run_id,
                           "--yes", "--quiet"});
  long long took = 0;
  try {
    auto res = run_child(spec, m.name, argv, took);
    m.duration_ms += took;
    if (res.exit_code == 0) {
      m.outcome = "rolled_back";
      m.message = "reverted after the failure budget was spent (run " + m.run_id + "'s backup, proven)";
      return;
    }
    m.message = "revert failed: " + first_line(res.last_line());
  } catch (const Error& e) {
    m.message = std::string("revert failed: ") + e.what();
  }
  m.outcome = "needs_human";
  m.exit_code = exit_code::k_failed_dirty;
}

}  // namespace ferry::run
