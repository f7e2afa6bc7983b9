// Reads and strictly validates YAML into config structs. Every problem is an Error of kind
// Config whose message starts with "FILE:LINE:COL: ". Paths in messages are relative to the
// project root, as the user wrote them.
#pragma once
#include <string>

#include "config/model.hpp"

namespace ferry::config {

// Loads every environments/*.yaml under root. Throws Error(Config).
Project load_project(const std::string& root);

// Resolves "promote" or "playbooks/promote.yaml" or an absolute path, loads and checks it
// against the project's environments. Throws Error(Config).
Playbook load_playbook(const Project& project, const std::string& name_or_path);

// Every playbooks/*.yaml name under root.
std::vector<std::string> list_playbooks(const std::string& root);

}  // namespace ferry::config
