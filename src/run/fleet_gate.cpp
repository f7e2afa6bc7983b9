#include "run/fleet_gate.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <set>

#include "config/fleet.hpp"
#include "core/error.hpp"
#include "core/text.hpp"
#include "run/fleet_members.hpp"
#include "run/target.hpp"

namespace ferry::run {

namespace {

// "a, b, c" then "and N more" past `limit`.
std::string some(const std::vector<std::string>& names, std::size_t limit = 10) {
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i == limit) return out + " and " + std::to_string(names.size() - limit) + " more";
    out += (i ? ", " : "") + names[i];
  }
  return out;
}

// A member's gap message without its "REQ: " prefix (the fleet's message names REQ once).
std::string item_of(const std::string& req, const std::string& message) {
  std::string prefix = req + ": ";
  return message.rfind(prefix, 0) == 0 ? message.substr(prefix.size()) : message;
}

// What the gate is asked: the required fleet and every item the stage would apply (with the
// file's checksum where the driver has one). Two members with the same pending set ask the same.
std::string question(const config::Environment& req, const steps::DriverState& state) {
  std::string q;
  for (const auto& p : state.pending) q += p.label + "\n";
  for (const auto& f : state.pending_files) q += f.id() + " " + f.checksum + "\n";
  return req.name + " " + sha256_hex(q);
}

// The questions an earlier member of the same fleet run found open: lines of the file the fleet
// parent names in k_gate_cache_env (in the run's own directory, gone with the run).
std::set<std::string> answered(const char* path) {
  std::set<std::string> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) out.insert(line);
  return out;
}

void remember(const char* path, const std::string& q) {
  int fd = ::open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return;  // a cache: the next member checks live
  std::string line = q + "\n";
  [[maybe_unused]] auto n = ::write(fd, line.data(), line.size());  // one append: whole lines
  ::close(fd);
}

// Every member of the fleet `req`, read live, the gaps summed per item.
std::vector<steps::GateGap> check_live(const config::Environment& req, steps::Driver& driver,
                                       const steps::DriverState& state) {
  std::vector<std::string> names = fleet_members(req);  // throws: the caller's CannotCheck
  std::map<std::pair<steps::GapKind, std::string>, std::vector<std::string>> missing;  // (kind, item) -> members
  std::vector<std::pair<steps::GapKind, std::string>> order;                           // first seen first
  std::vector<std::string> unreadable;
  std::string first_error;
  for (const auto& name : names) {
    try {
      auto link = connect(config::member_environment(req, name));
      for (const auto& g : driver.gate(req.name, *link.conn, state)) {
        auto key = std::make_pair(g.kind, item_of(req.name, g.message));
        if (!missing.count(key)) order.push_back(key);
        missing[key].push_back(name);
      }
    } catch (const Error& e) {
      unreadable.push_back(name);
      if (first_error.empty()) first_error = e.what();
    }
  }
  std::string of = " of the fleet's " + std::to_string(names.size()) + " databases";
  std::vector<steps::GateGap> gaps;
  for (const auto& key : order) {
    const auto& who = missing[key];
    gaps.push_back({req.name, key.first,
                    req.name + ": " + key.second + " on " + std::to_string(who.size()) + of + ": " + some(who)});
  }
  if (!unreadable.empty())
    gaps.push_back({req.name, steps::GapKind::CannotCheck,
                    req.name + ": cannot check " + std::to_string(unreadable.size()) + of + ": " + some(unreadable) +
                        " (" + first_error + ")"});
  return gaps;
}

}  // namespace

// Inside a fleet run, every member asks the same question of the required fleet: the first
// answer that opened the gate is kept for the run (one read of each required database per run,
// not one per member). Only an open gate is kept; a closed or unreadable one is asked again.
std::vector<steps::GateGap> fleet_gate(const config::Environment& req, steps::Driver& driver,
                                       const steps::DriverState& state) {
  const char* cache = std::getenv(k_gate_cache_env);
  if (!cache || !*cache) return check_live(req, driver, state);
  std::string q = question(req, state);
  if (answered(cache).count(q)) return {};
  auto gaps = check_live(req, driver, state);
  if (gaps.empty()) remember(cache, q);
  return gaps;
}

}  // namespace ferry::run
