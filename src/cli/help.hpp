// Help texts: per command an example and its exit codes (one table, set as CLI11 footers), and
// the did-you-mean for a mistyped command.
#pragma once
#include <functional>
#include <string>

namespace CLI {
class App;
}

namespace ferry::cli {

// Sets the footer (example, exit codes) of every command of `app`, nested ones included.
void add_help_footers(CLI::App& app);

// For an argument line whose command is unknown: "unknown command 'rnu' (did you mean 'run'?)",
// or "" when the command is known or there is none. Global options (and their values) before
// the command are skipped.
std::string unknown_command(const CLI::App& app, int argc, const char* const* argv);

// The same one level down, for a command with subcommands and a positional ENV (`ferry backup
// verfy`): "unknown command 'backup verfy' (did you mean 'backup verify'?)" when the word after
// the command is close to one of its subcommands and `is_environment(word)` is false; else "".
std::string mistyped_subcommand(const CLI::App& app, int argc, const char* const* argv,
                                const std::function<bool(const std::string&)>& is_environment);

}  // namespace ferry::cli
