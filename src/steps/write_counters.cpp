#include "steps/write_counters.hpp"

#include <nlohmann/json.hpp>

namespace ferry::steps {

using nlohmann::json;

std::map<std::string, TableWrites> read_write_counters(db::Connection& db) {
  auto r = db.exec(
      "SELECT schemaname OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) relname, n_tup_ins, n_tup_upd, n_tup_del "
      "FROM pg_catalog.pg_stat_user_tables WHERE schemaname OPERATOR(pg_catalog.<>) ALL "
      "(ARRAY['ferry']::pg_catalog.name[]) ORDER BY 1");
  std::map<std::string, TableWrites> out;
  for (int i = 0; i < r.rows(); ++i)
    out[r.text(i, 0)] = {std::stoll(r.text(i, 1)), std::stoll(r.text(i, 2)), std::stoll(r.text(i, 3))};
  return out;
}

std::optional<TableWrites> writes_since(const std::map<std::string, TableWrites>& then,
                                        const std::map<std::string, TableWrites>& now) {
  TableWrites sum;
  for (const auto& [table, n] : now) {
    TableWrites t;
    if (auto it = then.find(table); it != then.end()) t = it->second;
    if (n.ins < t.ins || n.upd < t.upd || n.del < t.del) return std::nullopt;
    sum.ins += n.ins - t.ins;
    sum.upd += n.upd - t.upd;
    sum.del += n.del - t.del;
  }
  return sum;
}

json write_counters_json(const std::map<std::string, TableWrites>& counters) {
  json j = json::object();
  for (const auto& [table, n] : counters) j[table] = {{"ins", n.ins}, {"upd", n.upd}, {"del", n.del}};
  return j;
}

std::optional<std::map<std::string, TableWrites>> write_counters_from_json(const json& j) {
  if (!j.is_object()) return std::nullopt;
  std::map<std::string, TableWrites> out;
  for (const auto& [table, n] : j.items()) {
    if (!n.is_object()) return std::nullopt;
    out[table] = {n.value("ins", 0LL), n.value("upd", 0LL), n.value("del", 0LL)};
  }
  return out;
}

}  // namespace ferry::steps
