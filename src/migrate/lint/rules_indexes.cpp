// Rule family: indexes (FL020, FL022, FL023): built, dropped or rebuilt without CONCURRENTLY.
// (CONCURRENTLY inside a transaction is FL021, in rules_locking.cpp.)
#include "migrate/lint/rules.hpp"

namespace ferry::migrate::lint::detail {

namespace {
bool has_option(const json& params, const char* name) {
  for (const auto& p : params)
    if (str(p.value("DefElem", json::object()), "defname") == name) return true;
  return false;
}
}  // namespace

void index_rules(Context& c) {
  const json& b = *c.body;
  if (c.kind == "IndexStmt" && !b.value("concurrent", false) && b.contains("relation")) {
    std::string t = relation_name(b["relation"]);
    c.add("FL020", t,
          std::string(b.value("unique", false) ? "CREATE UNIQUE INDEX" : "CREATE INDEX") + " on " + t +
              " without CONCURRENTLY: writes to " + t + " wait until it is built");
  } else if (c.kind == "DropStmt" && str(b, "removeType") == "OBJECT_INDEX" && !b.value("concurrent", false)) {
    c.add("FL022", "", "DROP INDEX without CONCURRENTLY");
  } else if (c.kind == "ReindexStmt" && !has_option(b.value("params", json::array()), "concurrently")) {
    std::string t = b.contains("relation") ? relation_name(b["relation"]) : "";
    bool table = str(b, "kind") == "REINDEX_OBJECT_TABLE";
    c.add("FL023", table ? t : "", "REINDEX " + (t.empty() ? str(b, "name") : t) + " without CONCURRENTLY");
  }
}

}  // namespace ferry::migrate::lint::detail
