// Reads and strictly validates YAML into config structs. Every problem is an Error of kind
// Config whose message starts with "FILE:LINE:COL: ". Paths in messages are relative to the
// project root, as the user wrote them.
#pragma once
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "config/model.hpp"

namespace ferry::config {

// Loads every environments/*.yaml under root. Throws Error(Config). Every file is read and
// validated; with `resolve_only`, ${VAR}, ${secret:VAR} and password_file are resolved only for
// the environments named there (the ones a command acts on): an unset variable elsewhere does
// not stop it, and Project::environment() refuses the environments left unresolved.
// Every error of every file is reported: without `errors`, they are thrown together as one
// Error(Config) whose message has one "FILE:LINE:COL: ..." line per error; with `errors`, they
// are appended there and the project is returned as far as it could be read (validate).
Project load_project(const std::string& root, const std::optional<std::set<std::string>>& resolve_only = std::nullopt,
                     std::vector<std::string>* errors = nullptr);

// Throws the errors (one per line) as one Error(Config); nothing when there are none.
void throw_errors(const std::vector<std::string>& errors);

// `envs` plus every environment they require (requires:, transitively): what a gate reads.
std::set<std::string> with_requirements(const Project& project, std::set<std::string> envs);

// Resolves "promote" or "playbooks/promote.yaml" or an absolute path, loads and checks it
// against the project's environments. Throws Error(Config).
// With `errors`, every error of the file is appended there (as load_project does).
Playbook load_playbook(const Project& project, const std::string& name_or_path,
                       std::vector<std::string>* errors = nullptr);

// Every playbooks/*.yaml name under root.
std::vector<std::string> list_playbooks(const std::string& root);

}  // namespace ferry::config
