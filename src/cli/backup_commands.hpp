// `ferry backup pin ENV ID` and `ferry backup unpin ENV ID`: a pinned backup is never pruned.
#pragma once

#include <string>

#include "cli/commands.hpp"

namespace CLI {
class App;
}

namespace ferry::cli {

struct PinOptions {
  std::string env;
  std::string id;
  CLI::App* pin = nullptr;
  CLI::App* unpin = nullptr;
};

// Adds `pin` and `unpin` under `backup` (whose ENV then is optional when one of them is given).
void add_pin_commands(CLI::App& backup, PinOptions& o);
// True when `pin` or `unpin` was parsed.
bool pin_parsed(const PinOptions& o);
int cmd_backup_pin(const Globals& g, const PinOptions& o);

}  // namespace ferry::cli
