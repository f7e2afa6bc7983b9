// The `database:` section of an environment, and references to its connections. Private to
// src/config.
#pragma once
#include <string>

#include "config/model.hpp"
#include "config/reader.hpp"

namespace ferry::config {

// A value that must name a connection of the environment; fails naming the known ones.
void check_connection_ref(const Reader& r, const Environment& env, const YAML::Node& node, const std::string& key,
                          const std::string& value);

// A password_file as written (`~` is $HOME), made absolute against the project root.
std::string password_file_path(const std::string& written, const std::string& root);

// Reads `database:` into env.database (the connections are already read); with `resolve` false
// password_file is not read. Secrets found go to `secrets`.
void read_database(const Reader& r, Environment& env, const YAML::Node& db, const std::string& root, Secrets& secrets,
                   bool resolve);

}  // namespace ferry::config
