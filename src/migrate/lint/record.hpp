// accept-risk directives recorded in the ledger: when a migration whose findings it accepts is
// applied, ferry.accepted_risks gets (run id, version, code, reason, file:line:col).
#pragma once
#include <string>
#include <vector>

#include "db/ledger.hpp"
#include "migrate/migration_set.hpp"

namespace ferry::migrate::lint {

// The accepted findings of the migrations of `pending` that `applied[from...]` names. Never
// throws for a recording failure (the migrations are committed): it is logged as a warning.
void record_accepted(db::Ledger& ledger, const std::string& run_id, const std::vector<Migration>& pending,
                     const std::vector<db::AppliedMigration>& applied, size_t from, long long lock_timeout_ms);

}  // namespace ferry::migrate::lint
