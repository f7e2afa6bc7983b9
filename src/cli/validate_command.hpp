// `ferry validate`: every environment, playbook and migration read, every error
// reported (all files, each FILE:LINE:COL), nothing connected to.
#pragma once

#include "cli/commands.hpp"

namespace CLI {
class App;
}

namespace ferry::cli {

struct ValidateOptions {
  bool json = false;
};

CLI::App* add_validate_command(CLI::App& app, ValidateOptions& o);
// 0 when everything is valid, 64 when anything is not (every error printed on stderr).
int cmd_validate(const Globals& g, const ValidateOptions& o);

}  // namespace ferry::cli
