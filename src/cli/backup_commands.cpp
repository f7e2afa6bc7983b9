#include "cli/backup_commands.hpp"

#include <CLI/CLI.hpp>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>

#include "config/loader.hpp"
#include "core/error.hpp"
#include "steps/backup.hpp"

namespace ferry::cli {

void add_pin_commands(CLI::App& backup, PinOptions& o) {
  o.pin = backup.add_subcommand("pin", "pin backup ID of ENV: never pruned by keep or keep_days");
  o.unpin = backup.add_subcommand("unpin", "unpin backup ID of ENV: pruned again like any other");
  for (auto* sub : {o.pin, o.unpin}) {
    sub->add_option("ENV", o.env, "environment")->required();
    sub->add_option("ID", o.id, "backup ID, as `ferry backups ENV` lists it")->required();
  }
}

bool pin_parsed(const PinOptions& o) { return o.pin->parsed() || o.unpin->parsed(); }

int cmd_backup_pin(const Globals& g, const PinOptions& o) {
  bool pin = o.pin->parsed();
  auto project = config::load_project(g.root, std::set<std::string>{o.env});
  const auto& env = project.environment(o.env);
  steps::Transports transports(env);
  bool changed = steps::set_backup_pin(env, transports, o.id, pin);
  if (!g.quiet)
    std::cout << o.id << (changed ? (pin ? " pinned" : " unpinned") : (pin ? " was already pinned" : " was not pinned"))
              << "\n";
  return 0;
}

void print_backup_json(const config::Project& project, const std::string& env_name, const std::string& backup_id,
                       int exit_code, long long duration_ms) {
  nlohmann::json j = {{"schema_version", 1},
                      {"environment", env_name},
                      {"outcome", exit_code == 0                      ? "succeeded"
                                  : exit_code == exit_code::k_refused ? "refused"
                                                                      : "failed"},
                      {"exit_code", exit_code},
                      {"duration_ms", duration_ms},
                      {"backup", nullptr}};
  if (!backup_id.empty()) {
    const auto& env = project.environment(env_name);
    steps::Transports transports(env);
    for (const auto& b : steps::list_backups(env, transports, nullptr))
      if (b.id == backup_id) {
        j["backup"] = steps::backup_to_json(b, false);
        j["backup"].erase("row_counts");  // in the sidecar; a table per key is no summary
        j["backup"]["pinned"] = b.pinned;
      }
  }
  std::cout << project.secrets.redact(j.dump(2)) << "\n";
}

}  // namespace ferry::cli
