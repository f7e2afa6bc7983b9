// Rule family: transactions and locks (FL021, FL040-FL043): statements that cannot run in a
// transaction, table rewrites by maintenance commands, enum values added in a transaction, a
// blocking lock requested with no lock_timeout, and an ACCESS EXCLUSIVE lock held across many
// statements. Runs after the other families: it reads the locks their findings claim.
#include "migrate/lint/rules.hpp"

namespace ferry::migrate::lint::detail {

namespace {
// Statements after an ACCESS EXCLUSIVE lock in one transaction before FL043 speaks.
constexpr int k_statements_after_exclusive = 3;

bool blocks_reads_or_writes(const std::string& lock) {
  return lock == "AccessExclusiveLock" || lock == "ExclusiveLock" || lock == "ShareRowExclusiveLock" ||
         lock == "ShareLock";
}

bool option(const json& list, const char* name) {
  for (const auto& p : list)
    if (str(p.value("DefElem", json::object()), "defname") == name) return true;
  return false;
}

// Why the statement cannot run inside a transaction block, or "".
std::string needs_no_transaction(const Context& c) {
  const json& b = *c.body;
  if (c.kind == "IndexStmt" && b.value("concurrent", false)) return "CREATE INDEX CONCURRENTLY";
  if (c.kind == "DropStmt" && b.value("concurrent", false)) return "DROP INDEX CONCURRENTLY";
  if (c.kind == "ReindexStmt" && option(b.value("params", json::array()), "concurrently"))
    return "REINDEX CONCURRENTLY";
  if (c.kind == "VacuumStmt" && b.value("is_vacuumcmd", false)) return "VACUUM";
  if (c.kind == "AlterSystemStmt") return "ALTER SYSTEM";
  if (c.kind == "CreatedbStmt" || c.kind == "DropdbStmt") return "CREATE/DROP DATABASE";
  return "";
}

void rewrites(Context& c) {
  const json& b = *c.body;
  if (c.kind == "VacuumStmt" && option(b.value("options", json::array()), "full")) {
    for (const auto& r : b.value("rels", json::array())) {
      std::string t = relation_name(r.value("VacuumRelation", json::object()).value("relation", json::object()));
      c.add("FL040", t, "VACUUM FULL " + t + ": rewrites the table");
    }
    if (b.value("rels", json::array()).empty()) c.add("FL040", "", "VACUUM FULL of every table");
  } else if (c.kind == "ClusterStmt") {
    std::string t = b.contains("relation") ? relation_name(b["relation"]) : "";
    c.add("FL040", t, "CLUSTER " + (t.empty() ? std::string("of every clustered table") : t) + ": rewrites the table");
  }
}

void lock_rules(Context& c) {
  auto& f = *c.findings;
  size_t end = f.size();
  bool warned = false;
  for (size_t i = c.first_of_statement; i < end; ++i) {
    const Rule* r = find_rule(f[i].code);
    if (f[i].table.empty() || c.is_new(f[i].table) || !blocks_reads_or_writes(r->lock)) continue;
    if (c.lock_timeout_ms == 0 && !warned) {
      c.add("FL042", f[i].table, lock_display(r->lock) + " on " + f[i].table + " requested with no lock_timeout");
      warned = true;
    }
    if (c.in_transaction && c.exclusive_table.empty() && r->lock == "AccessExclusiveLock") {
      c.exclusive_table = f[i].table;
      c.exclusive_finding = i;
      c.statements_after_exclusive = -1;  // this statement does not count
    }
  }
}
}  // namespace

void locking_rules(Context& c) {
  std::string why = c.in_transaction ? needs_no_transaction(c) : "";
  if (!why.empty()) c.add("FL021", "", why + " cannot run inside a transaction block: the migration fails");
  if (c.in_transaction && c.kind == "AlterEnumStmt" && c.body->contains("newVal"))
    c.add("FL041", "",
          "ALTER TYPE " + last_name(c.body->value("typeName", json::array())) + " ADD VALUE inside a transaction");
  rewrites(c);
  lock_rules(c);
  if (!c.in_transaction || c.exclusive_table.empty()) return;
  if (++c.statements_after_exclusive == k_statements_after_exclusive) {
    Finding held = (*c.findings)[c.exclusive_finding];
    held.code = "FL043";
    held.detail = "ACCESS EXCLUSIVE on " + c.exclusive_table + " held while " +
                  std::to_string(k_statements_after_exclusive) + " or more statements run after it";
    c.findings->push_back(held);
  }
}

}  // namespace ferry::migrate::lint::detail
