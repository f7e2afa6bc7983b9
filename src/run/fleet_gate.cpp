#include "run/fleet_gate.hpp"

#include <map>

#include "config/fleet.hpp"
#include "core/error.hpp"
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

}  // namespace

std::vector<steps::GateGap> fleet_gate(const config::Environment& req, steps::Driver& driver,
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

}  // namespace ferry::run
