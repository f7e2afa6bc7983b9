// `ferry plan` on a fleet stage: the databases selected (--only, --exclude, --shard), the
// schedule a run would follow (canary, waves, budget: run/fleet_plan.*), and per database what it
// would apply, summed up ("27 databases would apply 0002..0003"), the refused and unreadable ones
// listed. JSON: the same, with every database's plan.
#include <map>

#include "cli/fleet_options.hpp"
#include "cli/plan_view.hpp"
#include "config/fleet.hpp"
#include "core/error.hpp"
#include "core/output.hpp"
#include "run/fleet_members.hpp"
#include "run/fleet_plan.hpp"
#include "run/fleet_select.hpp"

using nlohmann::json;

namespace ferry::cli {

namespace {

// "0002..0005" (first..last of what a database would apply), "0002", or "nothing".
std::string span(const run::StagePlan& p) {
  const auto& pending = p.state.pending;
  if (pending.empty()) return "nothing";
  if (pending.size() == 1) return pending.front().version;
  return pending.front().version + ".." + pending.back().version;
}

// What the selected databases' plans add up to.
struct FleetView {
  std::vector<std::string> names;                               // selected, in the fleet's order
  std::size_t fleet_size = 0;                                   // before the selection
  run::FleetPlan schedule;                                      // indices into names
  std::vector<StageView> members;                               // parallel to names
  std::map<std::string, std::vector<std::string>> would_apply;  // span -> databases
  std::vector<std::size_t> refused, unreadable;                 // indices into names
};

FleetView read_fleet(const Globals& g, const config::Project& project, const config::Playbook& pb,
                     const config::Environment& env, const std::vector<migrate::Migration>& files,
                     const std::set<std::string>& earlier, std::vector<std::string>& warnings) {
  FleetView f;
  auto all = run::fleet_members(env);
  f.fleet_size = all.size();
  f.names = run::select_members(all, split_names(g.fleet_only), split_names(g.fleet_exclude), g.fleet_shard, warnings);
  std::vector<std::size_t> todo(f.names.size());
  for (std::size_t i = 0; i < todo.size(); ++i) todo[i] = i;
  f.schedule = run::plan_fleet(pb.fleet, todo);
  for (std::size_t i = 0; i < f.names.size(); ++i) {
    auto v = read_stage(project, pb, config::member_environment(env, f.names[i]), files, earlier, false, false);
    v.environment = env.name;
    if (!v.error.empty())
      f.unreadable.push_back(i);
    else if (v.refusal)
      f.refused.push_back(i);
    else if (v.plan)
      f.would_apply[span(*v.plan)].push_back(f.names[i]);
    f.members.push_back(std::move(v));
  }
  return f;
}

// A message on one line of the list: its lines joined by "; ".
std::string one_line(const std::string& message) {
  std::string out, text = console_part(message);
  for (std::size_t at = 0; at <= text.size();) {
    std::size_t nl = text.find('\n', at);
    std::string line = text.substr(at, nl == std::string::npos ? std::string::npos : nl - at);
    line.erase(0, line.find_first_not_of(' '));
    if (!line.empty()) out += (out.empty() ? "" : "; ") + line;
    if (nl == std::string::npos) break;
    at = nl + 1;
  }
  return out;
}

std::string names_of(const FleetView& f, const std::vector<std::size_t>& idx, std::size_t limit = 10) {
  std::string out;
  for (std::size_t i = 0; i < idx.size(); ++i) {
    if (i == limit) return out + " and " + std::to_string(idx.size() - limit) + " more";
    out += (i ? ", " : "") + f.names[idx[i]];
  }
  return out;
}

void print_fleet(std::ostream& os, const Globals& g, const config::Environment& env, const FleetView& f) {
  const auto& d = env.database;
  const auto& s = f.schedule;
  os << paint(g, "1", "stage " + env.name) << "  fleet of " << f.fleet_size << " databases on " << d.host << ":"
     << d.port << (f.names.size() != f.fleet_size ? ", " + std::to_string(f.names.size()) + " selected" : "")
     << (env.is_protected ? paint(g, "33", "  [protected: needs --yes]") : "") << "\n";
  std::size_t waves = s.phases.size() - (s.has_canary ? 1 : 0);
  os << "  schedule: parallel " << s.parallel << "; canary "
     << (s.has_canary ? std::to_string(s.phases[0].size()) + " (" + names_of(f, s.phases[0], 5) + ")" : "none") << "; "
     << waves << (waves == 1 ? " wave" : " waves");
  if (waves > 0) os << " of up to " << s.phases[s.has_canary ? 1 : 0].size();
  os << "; failure budget " << s.budget << "\n";
  for (const auto& [what, who] : f.would_apply)
    os << "  " << who.size() << (who.size() == 1 ? " database" : " databases")
       << (what == "nothing" ? " are up to date" : " would apply " + what) << "\n";
  if (!f.refused.empty()) os << "  " << paint(g, "31", "refused") << ": " << f.refused.size() << "\n";
  for (auto i : f.refused) {
    const auto& r = *f.members[i].refusal;
    os << "    " << f.names[i] << "  " << verdict(r.kind) << ": " << one_line(r.message) << "\n";
  }
  if (!f.unreadable.empty()) os << "  " << paint(g, "31", "unreadable") << ": " << f.unreadable.size() << "\n";
  for (auto i : f.unreadable) os << "    " << f.names[i] << "  " << one_line(f.members[i].error) << "\n";
  std::string verdict_text =
      !f.refused.empty() ? paint(g, "31", "refused") + " (" + std::to_string(f.refused.size()) + " of " +
                               std::to_string(f.names.size()) + " databases would be refused)"
      : !f.unreadable.empty()
          ? paint(g, "31", "cannot tell") + " (" + std::to_string(f.unreadable.size()) + " unreadable)"
          : paint(g, "32", "would run");
  os << "  verdict: " << verdict_text << "\n";
}

json fleet_json(const config::Environment& env, const FleetView& f) {
  auto names = [&](const std::vector<std::size_t>& idx) {
    json out = json::array();
    for (auto i : idx) out.push_back(f.names[i]);
    return out;
  };
  const auto& s = f.schedule;
  json waves = json::array();
  for (std::size_t p = s.has_canary ? 1 : 0; p < s.phases.size(); ++p) waves.push_back(names(s.phases[p]));
  json apply = json::array();
  for (const auto& [what, who] : f.would_apply)
    apply.push_back({{"apply", what}, {"count", who.size()}, {"databases", who}});
  json refused = json::array(), members = json::array();
  for (auto i : f.refused)
    refused.push_back({{"name", f.names[i]},
                       {"kind", run::refusal_id(f.members[i].refusal->kind)},
                       {"message", f.members[i].refusal->message}});
  for (std::size_t i = 0; i < f.names.size(); ++i) {
    json m = stage_json(f.members[i]);
    m.erase("environment");
    m.erase("forecast");
    m["name"] = f.names[i];
    members.push_back(std::move(m));
  }
  json unreadable = json::array();
  for (auto i : f.unreadable) unreadable.push_back({{"name", f.names[i]}, {"error", f.members[i].error}});
  return {{"environment", env.name},
          {"fleet",
           {{"databases", f.fleet_size},
            {"selected", f.names.size()},
            {"parallel", s.parallel},
            {"canary", s.has_canary ? names(s.phases[0]) : json::array()},
            {"waves", waves},
            {"budget", s.budget},
            {"would_apply", apply},
            {"refused", refused},
            {"unreadable", unreadable}}},
          {"members", members},
          {"refusal", f.refused.empty()
                          ? json(nullptr)
                          : json{{"kind", "fleet"},
                                 {"message", std::to_string(f.refused.size()) + " of " +
                                                 std::to_string(f.names.size()) + " databases would be refused"}}},
          {"error", f.unreadable.empty() ? json(nullptr)
                                         : json(std::to_string(f.unreadable.size()) + " databases cannot be read")}};
}

}  // namespace

void plan_fleet_stage(std::ostream& os, json& stages, bool as_json, const Globals& g, const config::Project& project,
                      const config::Playbook& pb, const config::Environment& env,
                      const std::vector<migrate::Migration>& files, const std::set<std::string>& earlier, bool& failed,
                      bool& refused) {
  std::vector<std::string> warnings;
  FleetView f;
  try {
    f = read_fleet(g, project, pb, env, files, earlier, warnings);
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::Config) throw;  // a bad --only or --shard: a usage error
    failed = true;
    if (as_json)
      stages.push_back({{"environment", env.name},
                        {"fleet", nullptr},
                        {"members", json::array()},
                        {"refusal", nullptr},
                        {"error", e.what()}});
    else
      os << paint(g, "1", "stage " + env.name) << "  " << paint(g, "31", "error") << ": " << console_part(e.what())
         << "\n";
    return;
  }
  failed |= !f.unreadable.empty();
  refused |= !f.refused.empty();
  if (as_json) {
    stages.push_back(fleet_json(env, f));
    return;
  }
  for (const auto& w : warnings) os << "  warning: " << w << "\n";
  print_fleet(os, g, env, f);
}

}  // namespace ferry::cli
