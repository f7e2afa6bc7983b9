// Reads and strictly validates YAML into config structs. Every problem is an Error of kind
// Config whose message starts with "FILE:LINE:COL: ". Paths in messages are relative to the
// project root, as the user wrote them.
#pragma once
#include <optional>
#include <set>
#include <string>

#include "config/model.hpp"

namespace ferry::config {

// Loads every environments/*.yaml under root. Throws Error(Config). Every file is read and
// validated; with `resolve_only`, ${VAR}, ${secret:VAR} and password_file are resolved only for
// the environments named there (the ones a command acts on): an unset variable elsewhere does
// not stop it, and Project::environment() refuses the environments left unresolved.
Project load_project(const std::string& root, const std::optional<std::set<std::string>>& resolve_only = std::nullopt);

// `envs` plus every environment they require (requires:, transitively): what a gate reads.
std::set<std::string> with_requirements(const Project& project, std::set<std::string> envs);

// Resolves "promote" or "playbooks/promote.yaml" or an absolute path, loads and checks it
// against the project's environments. Throws Error(Config).
Playbook load_playbook(const Project& project, const std::string& name_or_path);

// Every playbooks/*.yaml name under root.
std::vector<std::string> list_playbooks(const std::string& root);

}  // namespace ferry::config
