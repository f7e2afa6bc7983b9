// The data-loss guard's reading of libpg_query parse trees (JSON): which statements are known
// to leave existing rows alone. Internal to src/migrate.
#pragma once
#include <nlohmann/json.hpp>
#include <set>
#include <string>

namespace ferry::migrate::detail {

// Why one statement (the object under a parse tree's "stmt") may change existing rows, or "".
std::string changes_rows(const nlohmann::json& stmt);

// Reads a migration's statements in order, a parse tree ({"stmts": [...]}) at a time.
class MigrationReading {
 public:
  // Why the statements read so far may change existing rows, or "". A tree that is not an
  // object (the parser failed, or its JSON did not read) counts: "cannot be read by the parser".
  std::string read(const nlohmann::json& tree);

 private:
  bool m_trigger = false;        // a trigger, rule or function was created or changed: a later INSERT may fire it
  bool m_event_trigger = false;  // an event trigger was created: later DDL may fire it
};

// Why a transaction control statement breaks ferry's transaction, or "" (a SAVEPOINT, or a
// RELEASE / ROLLBACK TO of a savepoint set earlier, recorded in `savepoints`).
std::string transaction_misuse(const std::string& statement, std::set<std::string>& savepoints);

}  // namespace ferry::migrate::detail
