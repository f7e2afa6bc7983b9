// The read-only and file-making commands (plan, status, history, backups, new).
#pragma once
#include <optional>
#include <string>

#include "config/model.hpp"

namespace ferry::cli {

struct Globals {
  std::string root = ".";
  std::string state_dir;  // default ROOT/.ferry
  bool color = false;
  bool quiet = false;
  bool verbose = false;
};

// ANSI colour `code` around `s` when colour is on; "none" for an empty version.
std::string paint(const Globals& g, const char* code, const std::string& s);
std::string or_none(const std::string& v);

// cli/plan_command.cpp
int cmd_plan(const Globals& g, const std::string& playbook, const std::optional<std::string>& env, bool as_json);
// With `check`: exit 3 on drift (or an interrupted migration), 2 on pending, 1 unreachable.
int cmd_status(const Globals& g, const std::optional<std::string>& env, bool json, bool check = false);
int cmd_history(const Globals& g, const std::string& env, bool json, bool locks = false);
int cmd_backups(const Globals& g, const std::string& env, bool json);
int cmd_new(const Globals& g, const std::string& name);

}  // namespace ferry::cli
