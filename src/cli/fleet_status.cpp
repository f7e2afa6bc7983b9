#include "cli/fleet_status.hpp"

#include <iostream>
#include <map>

#include "config/fleet.hpp"
#include "core/error.hpp"
#include "core/output.hpp"
#include "run/fleet_members.hpp"

using nlohmann::json;

namespace ferry::cli {

namespace {

// One member as `status` reads a single database, trimmed to what a fleet view needs.
json member_status(const config::Project& project, const config::Environment& fleet, const std::string& name) {
  json e = {{"name", name}};
  try {
    read_status(e, project, config::member_environment(fleet, name), false);  // not shown
  } catch (const BadProjectFiles&) {
    throw;
  } catch (const Error& err) {
    return {{"name", name}, {"reachable", false}, {"error", project.secrets.redact(err.what())}};
  }
  json m = {{"name", name}};
  for (const char* k : {"reachable", "version", "applied", "pending", "drift", "interrupted"}) m[k] = e[k];
  m["lock"] = e["lock_holder"];
  return m;
}

void add_to_summary(json& doc, const json& m) {
  const std::string name = m["name"].get<std::string>();
  if (!m["reachable"].get<bool>()) {
    doc["unreachable"].push_back(name);
    return;
  }
  std::string v = m["version"].get<std::string>();
  auto& hist = doc["versions"];
  hist[v.empty() ? "none" : v] = hist.value(v.empty() ? "none" : v, 0) + 1;
  if (!m["drift"].empty() || !m["interrupted"].empty()) doc["drift"].push_back(name);
  if (!m["pending"].empty()) doc["behind"].push_back(name);
  if (!m["lock"].is_null()) doc["locked"].push_back({{"name", name}, {"holder", m["lock"]}});
}

std::string holder_text(const json& h) {
  if (h["run_id"].is_null()) return "another session (backend pid " + std::to_string(h["pid"].get<int>()) + ")";
  return "run " + h["run_id"].get<std::string>() + " by " + h["operator"].get<std::string>() + " on " +
         h["host"].get<std::string>();
}

// Up to `limit` names of a list, then "and N more".
std::string some(const json& names, size_t limit = 10) {
  std::string out;
  size_t i = 0;
  for (const auto& n : names) {
    if (i == limit) return out + " and " + std::to_string(names.size() - limit) + " more";
    out += (i++ ? ", " : "") + n.get<std::string>();
  }
  return out;
}

int exit_code_of(const json& doc, bool check) {
  bool unreachable = !doc["unreachable"].empty();
  if (!check) return unreachable ? exit_code::k_failed_clean : exit_code::k_ok;
  if (!doc["drift"].empty()) return exit_code::k_refused;
  if (!doc["behind"].empty()) return exit_code::k_failed_dirty;
  return unreachable ? exit_code::k_failed_clean : exit_code::k_ok;
}

}  // namespace

json fleet_status(const config::Project& project, const config::Environment& fleet) {
  auto names = run::fleet_members(fleet);
  json doc = {{"schema_version", 1},        {"environment", fleet.name},    {"databases", names.size()},
              {"versions", json::object()}, {"drift", json::array()},       {"locked", json::array()},
              {"behind", json::array()},    {"unreachable", json::array()}, {"members", json::array()}};
  for (const auto& name : names) {
    doc["members"].push_back(member_status(project, fleet, name));
    add_to_summary(doc, doc["members"].back());
  }
  return doc;
}

json fleet_status_element(const config::Project& project, const config::Environment& fleet, int& code) {
  const auto& d = fleet.database;
  json e = {{"schema_version", 1}, {"environment", fleet.name},      {"fleet", true}, {"host", d.host},
            {"port", d.port},      {"protected", fleet.is_protected}};
  try {
    json doc = fleet_status(project, fleet);
    for (auto& [k, v] : doc.items())
      if (k != "schema_version" && k != "environment") e[k] = v;
    e["reachable"] = true;
    if (!e["unreachable"].empty()) code = exit_code::k_failed_clean;
  } catch (const Error& err) {
    e["reachable"] = false;
    e["error"] = project.secrets.redact(err.what());
    code = exit_code::k_failed_clean;
  }
  return e;
}

void print_fleet_line(const Globals& g, const json& e) {
  std::cout << paint(g, "1", e["environment"].get<std::string>()) << "  fleet";
  if (e.contains("databases")) std::cout << " of " << e["databases"].get<size_t>() << " databases";
  std::cout << " on " << e["host"].get<std::string>() << ":" << e["port"].get<int>()
            << (e["protected"].get<bool>() ? "  [protected]" : "");
  if (!e["reachable"].get<bool>()) {
    std::cout << "  " << paint(g, "31", "unreachable") << ": " << e["error"].get<std::string>() << "\n";
    return;
  }
  std::string versions;
  for (const auto& [v, n] : e["versions"].get<std::map<std::string, int>>())
    versions += (versions.empty() ? "" : ", ") + v + ": " + std::to_string(n);
  auto count = [&](const char* key, const char* colour) {
    std::string n = std::to_string(e[key].size());
    return std::string(key) + " " + (e[key].empty() ? n : paint(g, colour, n));
  };
  std::cout << "  versions " << (versions.empty() ? "none" : versions) << "; " << count("behind", "33") << ", "
            << count("drift", "31") << ", " << count("locked", "33") << ", " << count("unreachable", "31") << "\n";
}

void fleet_check_facts(const json& e, bool& drift, bool& pending, bool& unreachable) {
  drift |= !e["drift"].empty();
  pending |= !e["behind"].empty();
  unreachable |= !e["unreachable"].empty();
}

int print_fleet_status(const Globals& g, const json& doc, bool as_json, bool check) {
  int code = exit_code_of(doc, check);
  if (as_json) {
    std::cout << doc.dump(2) << "\n";
    return code;
  }
  std::cout << paint(g, "1", doc["environment"].get<std::string>()) << "  fleet of " << doc["databases"].get<size_t>()
            << " databases\n  versions\n";
  std::map<std::string, int> hist = doc["versions"].get<std::map<std::string, int>>();
  for (const auto& [v, n] : hist) std::cout << "    " << v << "  " << n << "\n";
  auto line = [&](const char* label, const json& names, const char* colour) {
    std::cout << "  " << label << std::string(13 - std::string(label).size(), ' ');
    if (names.empty()) {
      std::cout << "none\n";
      return;
    }
    std::cout << paint(g, colour, std::to_string(names.size())) << "  " << some(names) << "\n";
  };
  line("behind", doc["behind"], "33");
  line("drift", doc["drift"], "31");
  line("unreachable", doc["unreachable"], "31");
  std::cout << "  locked       " << (doc["locked"].empty() ? "none" : std::to_string(doc["locked"].size())) << "\n";
  for (const auto& l : doc["locked"])
    std::cout << "    " << l["name"].get<std::string>() << "  " << holder_text(l["holder"]) << "\n";
  return code;
}

}  // namespace ferry::cli
