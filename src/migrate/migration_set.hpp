// The native migrations on disk (SPEC section 4.1) and how they compare with a ledger.
#pragma once
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "db/ledger.hpp"

namespace ferry::migrate {

struct Migration {
  std::string version;  // the leading digits as written ("0003")
  std::string name;     // the rest, after one '_' ("add_priority")
  std::string id() const { return version + (name.empty() ? "" : "_" + name); }
  std::string dir;  // path shown to users ("migrations/0003_add_priority")
  std::string up_sql;
  std::optional<std::string> down_sql;
  std::optional<std::string> verify_sql;
  std::string checksum;             // sha256 of up.sql
  bool irreversible = false;        // -- ferry:irreversible
  bool no_transaction = false;      // -- ferry:no-transaction on the first line
  bool down_restores_data = false;  // -- ferry:down-restores-data
  size_t up_statements = 0;         // statements in up.sql, as the parser splits them

  // data_loss(): read once, shared by every copy of this migration.
  struct DataLossMemo {
    std::once_flag once;
    std::string why;
  };
  std::shared_ptr<DataLossMemo> data_loss_memo = std::make_shared<DataLossMemo>();
};

// Why applying the migration's up.sql may change or destroy existing rows, or "" when it cannot
// (destroys_data of up.sql). Parsed once however many copies ask (the plan, the ledger row of
// each applied migration, the rollback choice), from any thread.
const std::string& data_loss(const Migration& m);
// Gives data_loss() its answer when another reading of up.sql found it (the lint's parse).
void remember_data_loss(const Migration& m, const std::string& why);

// Orders versions as numbers without overflow: "0010" > "9".
int compare_versions(const std::string& a, const std::string& b);

// Reads `dir` (absolute) and returns the migrations in version order. `display_dir` is how
// paths appear in messages. Throws Error(Config) for a missing up.sql, a missing down.sql
// (unless irreversible), a duplicate version, or SQL that does not parse.
std::vector<Migration> load_migrations(const std::string& dir, const std::string& display_dir);

struct Drift {
  std::string version;
  std::string message;  // "0002_add_priority: up.sql changed since it was applied (...)"
};

struct Plan {
  std::vector<Migration> pending;
  std::vector<Drift> drift;
  std::string current;  // newest applied version, "" when none
};

Plan make_plan(const std::vector<Migration>& files, const std::vector<db::AppliedMigration>& applied);

}  // namespace ferry::migrate
