// ferry.lock_traces: the stored lock traces (JSON text, encoded by steps/lock_trace.*), beside
// the other SQL on ferry's own tables (db/ledger*).
#pragma once
#include <map>
#include <string>

#include "db/pg.hpp"

namespace ferry::db {

// ferry.lock_traces, created when missing (call outside a migration's transaction: the DDL's own
// locks would otherwise land in the trace).
void ensure_lock_traces(Connection& conn);
void store_lock_trace(Connection& conn, const std::string& version, const std::string& run_id,
                      const std::string& environment, const std::string& trace_json);
// The newest trace of each version (JSON text); empty when the table does not exist.
std::map<std::string, std::string> lock_traces(Connection& conn);

}  // namespace ferry::db
