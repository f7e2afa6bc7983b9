// Small helpers of `run` and `rollback` shared with the read-only commands: who and where,
// run ids, protection, and telling of runs a dead ferry left behind.
#include <pwd.h>
#include <unistd.h>

#include <iostream>

#include "core/text.hpp"
#include "run/runner.hpp"

namespace ferry::run {

std::string operator_name() {
  if (const char* o = std::getenv("FERRY_OPERATOR"); o && *o) return o;
  if (const char* u = std::getenv("USER"); u && *u) return u;
  if (auto* pw = getpwuid(getuid())) return pw->pw_name;
  return "unknown";
}

std::string host_name() {
  char buf[256] = {0};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

std::string new_run_id() { return stamp_id(6); }

void report_abandoned_runs(db::Ledger& ledger, report::Reporter& rep, const std::string& env) {
  for (const auto& stale : ledger.abandon_stale_runs()) {
    rep.message(report::Level::Warn, "run " + stale.id + " by " + stale.operator_name + " on " + stale.host +
                                         " (started " + stale.started + ") never finished; it is marked abandoned");
    rep.message(report::Level::Hint, "check `ferry history " + env + "`: its changes, if any, are in the ledger");
  }
}

std::string confirm_protected(const config::Environment& env, bool yes) {
  if (!env.is_protected || yes) return "";
  if (isatty(STDIN_FILENO) && isatty(STDOUT_FILENO)) {
    std::cout << "environment '" << env.name << "' is protected. Type its name to continue: " << std::flush;
    std::string typed;
    std::getline(std::cin, typed);
    if (trim(typed) == env.name) return "";
    return "environment '" + env.name + "' is protected and the name typed did not match";
  }
  return "environment '" + env.name + "' is protected: pass --yes, or type its name at a terminal";
}

}  // namespace ferry::run
