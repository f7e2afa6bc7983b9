// pg_stat_user_tables' write counters: recorded in a backup's sidecar, compared with now to
// estimate the writes a restore of that backup discards.
#pragma once
#include <map>
#include <optional>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "db/pg.hpp"
#include "steps/context.hpp"

namespace ferry::steps {

// n_tup_ins/upd/del of every user table (not ferry's), by "schema.table".
std::map<std::string, TableWrites> read_write_counters(db::Connection& db);

// Rows written since the backup, summed over today's tables (a table created since counts
// whole). nullopt when unknown: no counters in the sidecar, or a counter went back (the
// statistics were reset or lost in a crash).
std::optional<TableWrites> writes_since(const std::map<std::string, TableWrites>& then,
                                        const std::map<std::string, TableWrites>& now);

nlohmann::json write_counters_json(const std::map<std::string, TableWrites>& counters);
// nullopt when `j` is not an object of {ins, upd, del} objects.
std::optional<std::map<std::string, TableWrites>> write_counters_from_json(const nlohmann::json& j);

}  // namespace ferry::steps
