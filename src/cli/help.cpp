#include "cli/help.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <map>

#include "core/text.hpp"

namespace ferry::cli {

namespace {

struct Help {
  const char* example;
  const char* exits;
};

// Keyed by the command's path ("backup verify").
const std::map<std::string, Help>& help_table() {
  static const std::map<std::string, Help> k_help = {
      {"init", {"ferry init myproject", "0 created; 64 a file exists already or DIR cannot be written"}},
      {"validate", {"ferry validate", "0 valid; 64 any error (every error is listed, FILE:LINE:COL)"}},
      {"plan", {"ferry plan promote --env staging", "0 shown; 1 a stage unreachable; 64 configuration error"}},
      {"run",
       {"ferry run promote --yes --report run.json",
        "0 ok; 1 failed, environment as it was (rollback proven); 2 failed, a human must act; 3 refused before "
        "changing anything (lock, gate, drift, protection); 64 usage or configuration error"}},
      {"status",
       {"ferry status --check", "0 shown (--check: up to date); 1 unreachable; --check: 2 pending, 3 drift; 64 usage or an unreadable migration file"}},
      {"history", {"ferry history production --json", "0 shown; 1 unreachable; 64 usage"}},
      {"backup",
       {"ferry backup production --json",
        "0 backup taken and verified; 1 failed, nothing kept; 3 lock held; 64 usage"}},
      {"backup pin", {"ferry backup pin production production-20261130T020000Z-1a2b", "0 done; 64 unknown ID"}},
      {"backup unpin", {"ferry backup unpin production production-20261130T020000Z-1a2b", "0 done; 64 unknown ID"}},
      {"backup verify",
       {"ferry backup verify production latest --restore", "0 verified (drill proven); 1 not; 64 usage"}},
      {"backups", {"ferry backups production --json", "0 listed; 64 usage"}},
      {"rollback",
       {"ferry rollback production --backup latest",
        "0 done; 1 failed before changing anything; 2 failed part-way, a human must act; 3 refused; 64 usage"}},
      {"new", {"ferry new add_orders_index", "0 created; 64 bad name"}},
      {"lint", {"ferry lint promote --fail-on medium", "0 nothing reaches --fail-on; 3 a finding does; 64 usage"}},
      {"schedule", {"ferry schedule nightly --every daily", "0 printed or installed; 64 usage"}},
      {"baseline",
       {"ferry baseline production --to 0007",
        "0 recorded; 3 refused (applied differently, or locked); 64 usage (unknown version)"}},
      {"repair",
       {"ferry repair production --reason \"reformatted 0003\"",
        "0 repaired (or nothing to repair); 3 locked; 64 usage"}},
      {"schema", {"ferry schema environment > environment.schema.json", "0 printed; 64 unknown kind"}},
  };
  return k_help;
}

void set_footers(CLI::App& app, const std::string& prefix) {
  for (auto* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    std::string path = prefix.empty() ? sub->get_name() : prefix + " " + sub->get_name();
    auto it = help_table().find(path);
    if (it != help_table().end())
      sub->footer(std::string("Example:\n  ") + it->second.example + "\nExit codes: " + it->second.exits +
                  "\nGlobal options (-C DIR, -v, -q, --color, ...: ferry --help) may follow the command too.");
    set_footers(*sub, path);
  }
}

// "-C" or "--state-dir" (not "-Cdir", not "--state-dir=x"): an option whose value is the next word.
bool takes_value(const CLI::App& app, const std::string& a) {
  if (a.find('=') != std::string::npos || (a.rfind("--", 0) != 0 && a.size() != 2)) return false;
  try {
    return app.get_option(a)->get_items_expected_min() > 0;  // a flag expects none
  } catch (const CLI::OptionNotFound&) {
    return false;
  }
}

// The words of argv that are not (top-level) options nor their values, until "--".
std::vector<std::string> words(const CLI::App& app, int argc, const char* const* argv) {
  std::vector<std::string> out;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") break;
    if (a.rfind("-", 0) == 0) {
      if (takes_value(app, a)) ++i;  // its value is not a command
      continue;
    }
    out.push_back(a);
  }
  return out;
}

std::vector<std::string> subcommand_names(const CLI::App& app) {
  std::vector<std::string> names;
  for (const auto* sub : app.get_subcommands([](const CLI::App*) { return true; })) names.push_back(sub->get_name());
  return names;
}

}  // namespace

void add_help_footers(CLI::App& app) { set_footers(app, ""); }

std::string mistyped_subcommand(const CLI::App& app, int argc, const char* const* argv,
                                const std::function<bool(const std::string&)>& is_environment) {
  auto w = words(app, argc, argv);
  if (w.size() < 2) return "";
  const CLI::App* cmd = nullptr;
  for (const auto* sub : app.get_subcommands([](const CLI::App*) { return true; }))
    if (sub->get_name() == w[0]) cmd = sub;
  if (!cmd) return "";
  auto names = subcommand_names(*cmd);
  if (names.empty() || std::find(names.begin(), names.end(), w[1]) != names.end() || is_environment(w[1])) return "";
  std::string hint = closest(w[1], names);
  if (hint.empty()) return "";
  return "unknown command '" + w[0] + " " + w[1] + "' (did you mean '" + w[0] + " " + hint + "'?)";
}

std::string unknown_command(const CLI::App& app, int argc, const char* const* argv) {
  std::vector<std::string> names;
  for (const auto* sub : app.get_subcommands([](const CLI::App*) { return true; })) names.push_back(sub->get_name());
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") return "";
    if (a.rfind("-", 0) == 0) {
      if (takes_value(app, a)) ++i;  // its value is not the command
      continue;
    }
    if (std::find(names.begin(), names.end(), a) != names.end()) return "";
    std::string hint = closest(a, names);
    return "unknown command '" + a + "'" + (hint.empty() ? "" : " (did you mean '" + hint + "'?)");
  }
  return "";
}

}  // namespace ferry::cli
