// `ferry init [DIR]`: a new project that `ferry validate` accepts; and where the project's root
// is when no -C/--project is given.
#pragma once
#include <string>

namespace CLI {
class App;
}

namespace ferry::cli {

struct InitOptions {
  std::string dir = ".";
};

CLI::App* add_init_command(CLI::App& app, InitOptions& o);
// Writes environments/dev.yaml, playbooks/promote.yaml, migrations/.gitkeep, .schemas/ (the
// JSON Schemas, for editors) and a .gitignore line for .ferry/ under DIR; refuses (exit 64, nothing written) when any of the files exists.
int cmd_init(const InitOptions& o, bool quiet);

// The nearest directory, from `start` up to /, that holds both environments/ and playbooks/;
// `start` itself when there is none.
std::string find_project_root(const std::string& start = ".");

}  // namespace ferry::cli
