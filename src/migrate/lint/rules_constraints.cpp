// Rule family: constraints (FL010-FL012): CHECK and FOREIGN KEY validated at once, UNIQUE and
// PRIMARY KEY that build their index under ACCESS EXCLUSIVE.
#include "migrate/lint/rules.hpp"

namespace ferry::migrate::lint::detail {

namespace {
void constraint_added(Context& c, const std::string& table, const json& k) {
  std::string type = str(k, "contype"), name = str(k, "conname");
  std::string label = name.empty() ? "" : " " + name;
  bool validated = !k.value("skip_validation", false);
  if (type == "CONSTR_CHECK" && validated)
    c.add("FL010", table, "ADD CHECK" + label + " on " + table + " without NOT VALID: scans every row");
  else if (type == "CONSTR_FOREIGN" && validated)
    c.add("FL011", table,
          "ADD FOREIGN KEY" + label + " on " + table + " -> " + relation_name(k.value("pktable", json::object())) +
              " without NOT VALID: writes to both tables blocked while " + table + " is scanned");
  else if ((type == "CONSTR_PRIMARY" || type == "CONSTR_UNIQUE" || type == "CONSTR_EXCLUSION") &&
           str(k, "indexname").empty())
    c.add("FL012", table,
          std::string(type == "CONSTR_PRIMARY"  ? "ADD PRIMARY KEY"
                      : type == "CONSTR_UNIQUE" ? "ADD UNIQUE"
                                                : "ADD EXCLUDE") +
              label + " on " + table + ": builds its index under ACCESS EXCLUSIVE");
}
}  // namespace

void constraint_rules(Context& c) {
  const json& b = *c.body;
  if (c.kind != "AlterTableStmt" || str(b, "objtype") != "OBJECT_TABLE" || !b.contains("relation")) return;
  std::string t = relation_name(b["relation"]);
  for (const auto& cmd : b.value("cmds", json::array())) {
    const json& a = cmd.value("AlterTableCmd", json::object());
    std::string sub = str(a, "subtype");
    const json& def = a.value("def", json::object());
    if (sub == "AT_AddConstraint" && def.contains("Constraint")) constraint_added(c, t, def["Constraint"]);
    if (sub == "AT_AddColumn" && def.contains("ColumnDef"))  // column constraints: REFERENCES, UNIQUE, CHECK
      for (const auto& con : def["ColumnDef"].value("constraints", json::array()))
        if (con.contains("Constraint")) constraint_added(c, t, con["Constraint"]);
  }
}

}  // namespace ferry::migrate::lint::detail
