// Reading one YAML file strictly: marks for messages, ${VAR} expansion, typed values. Private to
// src/config (the only user of yaml-cpp).
#pragma once
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "config/model.hpp"
#include "core/error.hpp"

namespace ferry::config {

// Loads one YAML file, refusing what would make reading it unsafe or ambiguous: a file over
// 4 MB, a second document, a duplicate key, nesting deeper than 64, and more than 100,000
// values or 16 MB of text once aliases are expanded. Every refusal is "FILE:LINE:COL: ...".
YAML::Node load_yaml(const std::string& path, const std::string& display);

// Shell text as written, with its ${VAR} references left for the shell to expand, and the
// values they need in the command's environment.
struct ShellText {
  std::string text;
  std::map<std::string, std::string> env;
};

// Reading context for one file: its display name and the secrets found in it.
struct Reader {
  std::string file;
  Secrets* secrets;
  // Expanded ${VAR} values and the text they were written as, so that messages quote a
  // secret's text ("${PW}"), never its value.
  mutable std::map<std::string, std::string> sources = {};
  // When set, an unset ${VAR} is not an error: it reads as "" and the first such problem is
  // kept here (an environment the command does not act on).
  std::string* unresolved = nullptr;
  // When set, configuration errors are collected here instead of stopping at the first: an
  // unknown key is recorded and reading goes on, and a `section` that fails is recorded and
  // skipped (validate reports every error of every file).
  std::vector<std::string>* errors = nullptr;

  // Runs `read`; with `errors` set, a configuration error inside it is recorded and false
  // returned, otherwise it propagates.
  template <class F>
  bool section(F&& read) const {
    if (!errors) {
      read();
      return true;
    }
    try {
      read();
      return true;
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::Config) throw;
      errors->push_back(e.what());
      return false;
    }
  }

  Mark mark(const YAML::Node& n) const {
    auto m = n.Mark();
    return Mark{file, std::max(m.line, 0) + 1, std::max(m.column, 0) + 1};  // an empty file has no mark
  }
  [[noreturn]] void fail(const YAML::Node& n, const std::string& msg) const { fail_at(mark(n), msg); }
  [[noreturn]] void fail_at(const Mark& m, const std::string& msg) const {
    std::string text = unexpand(msg);
    if (text.size() > 500) text = text.substr(0, 500) + "...";  // a huge key quoted whole helps nobody
    throw Error(ErrorKind::Config, m.str() + ": " + text);
  }
  // Replaces every expanded secret in `msg` with the text it was written as.
  std::string unexpand(std::string msg) const;

  // "a mapping", "a list", "nothing", or the scalar as written (its first line, shortened).
  static std::string describe(const YAML::Node& n);

  // Checks that `node` is a mapping whose keys are all in `allowed`.
  void expect_map(const YAML::Node& node, const std::string& what, const std::vector<std::string>& allowed) const;
  void require(const YAML::Node& node, const std::string& what, const std::string& key) const {
    if (!node[key]) fail(node, what + ": missing required key '" + key + "'");
  }

  // ${VAR} and ${secret:VAR} expansion; ${secret:VAR} values become secrets.
  std::string interpolate(const YAML::Node& n, const std::string& raw) const;
  // getenv(var); when unset: fails, or (with `unresolved`) records the problem and returns nullptr.
  const char* unset_or_value(const YAML::Node& n, const std::string& var, const std::string& written) const;
  // A shell command: ${VAR} stays in the text, its value goes to the environment.
  ShellText shell(const YAML::Node& n, const std::string& key) const;

  std::string str(const YAML::Node& n, const std::string& key) const;
  std::string str_or(const YAML::Node& map, const std::string& key, std::string def) const;
  std::string nonempty(const YAML::Node& map, const std::string& key, std::string def) const;
  bool boolean(const YAML::Node& n, const std::string& key) const;
  bool bool_or(const YAML::Node& map, const std::string& key, bool def) const;
  int integer(const YAML::Node& n, const std::string& key, int lo, int hi) const;
  int int_or(const YAML::Node& map, const std::string& key, int def, int lo, int hi) const;
  Millis duration(const YAML::Node& n, const std::string& key) const;
  Millis duration_or(const YAML::Node& map, const std::string& key, Millis def) const;
  std::string one_of(const YAML::Node& map, const std::string& key, std::string def,
                     const std::vector<std::string>& allowed) const;
  std::vector<std::string> str_list(const YAML::Node& n, const std::string& key) const;
};

}  // namespace ferry::config
