#include "cli/validate_command.hpp"

#include <CLI/CLI.hpp>
#include <iostream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "config/loader.hpp"
#include "core/error.hpp"
#include "run/target.hpp"

namespace ferry::cli {

CLI::App* add_validate_command(CLI::App& app, ValidateOptions& o) {
  auto* sub = app.add_subcommand("validate", "check every environment, playbook and migration; run nothing");
  sub->add_flag("--json", o.json, "machine-readable output (docs/json.md)");
  return sub;
}

namespace {

struct Counts {
  size_t environments = 0, playbooks = 0, migrations = 0;
};

// Reads everything; every error goes to `errors`.
Counts validate_all(const Globals& g, std::vector<std::string>& errors) {
  Counts c;
  config::Project project;
  try {
    project = config::load_project(g.root, std::nullopt, &errors);
  } catch (const Error& e) {  // no environments/ at all: nothing more to read
    if (e.kind() != ErrorKind::Config) throw;
    errors.push_back(e.what());
    return c;
  }
  c.environments = project.environments.size();
  auto names = config::list_playbooks(g.root);
  c.playbooks = names.size();
  std::set<std::string> dirs;
  auto read_migrations = [&](const config::MigrationsSource& src) {
    try {
      c.migrations += run::load_playbook_migrations(project, src).size();
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::Config) throw;
      errors.push_back(e.what());
    }
  };
  for (const auto& name : names) {
    size_t before = errors.size();
    config::Playbook pb;
    try {
      pb = config::load_playbook(project, name, &errors);
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::Config) throw;
      errors.push_back(e.what());
    }
    if (errors.size() != before) continue;
    if (pb.migrations.driver == config::Driver::Native && dirs.insert(pb.migrations.dir).second)
      read_migrations(pb.migrations);
  }
  if (dirs.empty()) read_migrations(config::MigrationsSource{});
  return c;
}

// {"file", "line", "col", "message"} from "FILE:LINE:COL: message" (file null when it has no place).
nlohmann::json error_json(const std::string& e) {
  static const std::regex k_place(R"(^(.+?):(\d+):(\d+): ([\s\S]*)$)");
  std::smatch m;
  if (std::regex_match(e, m, k_place))
    return {
        {"file", m[1].str()}, {"line", std::stoi(m[2].str())}, {"col", std::stoi(m[3].str())}, {"message", m[4].str()}};
  return {{"file", nullptr}, {"line", nullptr}, {"col", nullptr}, {"message", e}};
}

}  // namespace

int cmd_validate(const Globals& g, const ValidateOptions& o) {
  std::vector<std::string> errors;
  Counts c = validate_all(g, errors);
  if (o.json) {
    nlohmann::json j = {{"schema_version", 1},      {"valid", errors.empty()},    {"environments", c.environments},
                        {"playbooks", c.playbooks}, {"migrations", c.migrations}, {"errors", nlohmann::json::array()}};
    for (const auto& e : errors) j["errors"].push_back(error_json(e));
    std::cout << j.dump(2) << "\n";
    return errors.empty() ? 0 : exit_code::k_usage;
  }
  if (!errors.empty()) {
    for (const auto& e : errors) std::cerr << "ferry: error: " << e << "\n";
    if (errors.size() > 1) std::cerr << "ferry: " << errors.size() << " errors\n";
    return exit_code::k_usage;
  }
  std::cout << (g.color ? "\033[32mok\033[0m" : "ok") << ": " << c.environments << " environment(s), " << c.playbooks
            << " playbook(s), " << c.migrations << " migration(s) valid\n";
  return 0;
}

}  // namespace ferry::cli
