// The ledger lock's holder in JSON outputs (status --json, rollback --json): one shape,
// {pid, run_id, operator, host, since, command}, or null when the lock is free.
#pragma once
#include <nlohmann/json.hpp>
#include <optional>

#include "db/ledger.hpp"

namespace ferry::run {

// null when free; run_id/operator/host/since/command are null when the holder is not a
// recorded ferry run (another session holding the advisory lock).
nlohmann::json lock_holder_json(const std::optional<db::LockHolder>& holder);

}  // namespace ferry::run
