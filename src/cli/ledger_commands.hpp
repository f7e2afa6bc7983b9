// Day-one adoption and repair of the ledger: `ferry baseline ENV --to V` (an existing database:
// versions up to V recorded as applied without running them; for Alembic, `alembic stamp`) and
// `ferry repair ENV --reason TEXT` (changed checksums accepted, runs of dead processes marked
// abandoned). Both take the run's lock and record a run with a note.
#pragma once
#include <string>

#include "cli/commands.hpp"

namespace CLI {
class App;
}

namespace ferry::cli {

struct LedgerOptions {
  std::string env;
  std::string to;      // baseline
  std::string reason;  // repair
  CLI::App* baseline = nullptr;
  CLI::App* repair = nullptr;
};

void add_ledger_commands(CLI::App& app, LedgerOptions& o);
// 0 done; 3 refused (lock held, applied differently); 64 unknown version. Run once parsed.
int cmd_baseline(const Globals& g, const LedgerOptions& o, const std::string& command_line);
int cmd_repair(const Globals& g, const LedgerOptions& o, const std::string& command_line);

}  // namespace ferry::cli
