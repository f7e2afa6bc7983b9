#include "run/fleet_record.hpp"

#include <filesystem>
#include <fstream>

#include "core/error.hpp"
#include "core/text.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace ferry::run {

namespace {
void check_id(const std::string& id) {
  bool ok = !id.empty() && id.size() <= 64;
  for (char c : id) ok &= std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  if (!ok || id[0] == '.') throw Error(ErrorKind::Config, "'" + id + "' is not a fleet run id");
}
}  // namespace

json to_json(const FleetRecord& r) {
  json members = json::array();
  for (const auto& m : r.members)
    members.push_back({{"name", m.name},
                       {"outcome", m.outcome},
                       {"exit_code", m.exit_code},
                       {"run_id", m.run_id},
                       {"duration_ms", m.duration_ms},
                       {"message", m.message}});
  return {{"schema_version", 1},    {"run_id", r.run_id},   {"playbook", r.playbook}, {"environment", r.environment},
          {"shard", r.shard},       {"started", r.started}, {"finished", r.finished}, {"exit_code", r.exit_code},
          {"resumes", r.resumes},   {"budget", r.budget},   {"canary", r.canary},     {"batch", r.batch},
          {"failures", r.failures}, {"databases", members}};
}

std::string record_path(const std::string& state_dir, const std::string& run_id) {
  return (fs::path(state_dir) / "fleets" / (run_id + ".json")).string();
}

void write_record(const std::string& state_dir, const FleetRecord& r) {
  fs::create_directories(fs::path(state_dir) / "fleets");
  std::string path = record_path(state_dir, r.run_id), tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << to_json(r).dump(2) << '\n';
    out.flush();
    if (!out) throw Error(ErrorKind::Internal, "cannot write " + tmp);
  }
  fs::rename(tmp, path);
}

FleetRecord read_record(const std::string& state_dir, const std::string& run_id) {
  check_id(run_id);
  std::string path = record_path(state_dir, run_id);
  json j;
  try {
    j = json::parse(read_file(path));
    FleetRecord r;
    r.run_id = j.at("run_id").get<std::string>();
    r.playbook = j.at("playbook").get<std::string>();
    r.environment = j.at("environment").get<std::string>();
    r.shard = j.value("shard", "");
    r.started = j.value("started", "");
    r.resumes = j.value("resumes", 0);
    r.budget = j.value("budget", 0);
    r.canary = j.value("canary", -1);
    r.batch = j.value("batch", -1);
    r.failures = j.value("failures", 0);
    for (const auto& m : j.at("databases")) {
      MemberResult mr;
      mr.name = m.at("name").get<std::string>();
      mr.outcome = m.at("outcome").get<std::string>();
      mr.exit_code = m.value("exit_code", -1);
      mr.run_id = m.value("run_id", "");
      mr.duration_ms = m.value("duration_ms", 0LL);
      mr.message = m.value("message", "");
      r.members.push_back(mr);
    }
    return r;
  } catch (const Error&) {
    throw Error(ErrorKind::Config, "no fleet run '" + run_id + "' (" + path + ")");
  } catch (const json::exception& e) {
    throw Error(ErrorKind::Config, path + " is not a fleet run record: " + e.what());
  }
}

}  // namespace ferry::run
