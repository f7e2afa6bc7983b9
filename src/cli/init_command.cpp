#include "cli/init_command.hpp"

#include <CLI/CLI.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <utility>
#include <vector>

#include "cli/schema_command.hpp"
#include "core/error.hpp"
#include "core/text.hpp"

namespace fs = std::filesystem;

namespace ferry::cli {

namespace {

const char* const k_environment = R"(# yaml-language-server: $schema=../.schemas/environment.json
# The environment "dev": one database, where backups go, the services to restart.
# Reference of every key: docs/reference.md (or `ferry schema environment`).
description: my laptop
database:
  name: app
  host: 127.0.0.1
  port: 5432
  user: app
  # password: ${secret:APP_DB_PASSWORD}     # or password_file: ~/.app-db-password, or url: ${DATABASE_URL}
backup:
  dir: .ferry/backups
  keep: 5
)";

const char* const k_playbook = R"(# yaml-language-server: $schema=../.schemas/playbook.json
# Carries the migrations under migrations/ through the stages, in order.
# Reference of every key: docs/reference.md (or `ferry schema playbook`).
description: promote migrations
stages: [dev]
steps:
  - backup
  - migrate
)";

std::vector<std::pair<std::string, std::string>> scaffold() {
  // The schemas let editors (yaml-language-server) complete and check the files; `ferry schema`
  // writes them anew after an upgrade.
  return {{"environments/dev.yaml", k_environment},
          {"playbooks/promote.yaml", k_playbook},
          {"migrations/.gitkeep", ""},
          {".schemas/environment.json", environment_schema().dump(2) + "\n"},
          {".schemas/playbook.json", playbook_schema().dump(2) + "\n"}};
}

void write_new(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  if (!out.flush()) throw Error(ErrorKind::Config, "cannot write '" + path.string() + "'");
}

// Adds ".ferry/" to DIR/.gitignore unless a line says so already; returns whether it did.
bool ignore_state_dir(const fs::path& dir) {
  fs::path file = dir / ".gitignore";
  std::string text;
  std::error_code ec;
  if (fs::exists(file, ec)) text = read_file(file.string());
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);)
    if (trim(line) == ".ferry/" || trim(line) == ".ferry" || trim(line) == "/.ferry/") return false;
  std::ofstream out(file, std::ios::app);
  out << (text.empty() || text.back() == '\n' ? "" : "\n") << "# ferry's journals and local backups\n.ferry/\n";
  if (!out.flush()) throw Error(ErrorKind::Config, "cannot write '" + file.string() + "'");
  return true;
}

}  // namespace

CLI::App* add_init_command(CLI::App& app, InitOptions& o) {
  auto* sub = app.add_subcommand("init", "create a project: environments/, playbooks/, migrations/, .gitignore");
  sub->add_option("DIR", o.dir, "where (default: the current directory; created when missing)");
  return sub;
}

int cmd_init(const InitOptions& o, bool quiet) {
  fs::path dir(o.dir);
  for (const auto& [rel, _] : scaffold()) {
    std::error_code ec;
    if (fs::exists(dir / rel, ec) || fs::is_symlink(dir / rel, ec))
      throw Error(ErrorKind::Config, "'" + (dir / rel).string() + "' exists already; ferry init writes no file twice",
                  "remove it, or run ferry init in another directory");
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error(ErrorKind::Config, "cannot create '" + dir.string() + "': " + ec.message());
  for (const auto& [rel, content] : scaffold()) write_new(dir / rel, content);
  bool ignored = ignore_state_dir(dir);
  if (!quiet) {
    std::cout << "created in " << dir.string()
              << ": environments/dev.yaml, playbooks/promote.yaml, migrations/, .schemas/ (for editors)"
              << (ignored ? ", .gitignore (.ferry/)" : "") << "\n";
    std::cout << "next: edit environments/dev.yaml, then `ferry validate`, `ferry new create_users`, "
                 "`ferry plan promote`\n";
  }
  return 0;
}

std::string find_project_root(const std::string& start) {
  std::error_code ec;
  fs::path dir = fs::absolute(start, ec);
  if (ec) return start;
  for (fs::path p = dir.lexically_normal(); !p.empty(); p = p.parent_path()) {
    if (fs::is_directory(p / "environments", ec) && fs::is_directory(p / "playbooks", ec))
      return p == dir.lexically_normal() ? start : p.string();
    if (p == p.parent_path()) break;
  }
  return start;
}

}  // namespace ferry::cli
