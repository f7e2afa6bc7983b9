// Rule family: tables and columns (FL001-FL009): create, add column, type changes, NOT NULL,
// renames, dropped columns.
#include <set>

#include "migrate/lint/rules.hpp"

namespace ferry::migrate::lint::detail {

namespace {
// Functions PostgreSQL evaluates once for a column default (not volatile): no rewrite.
const std::set<std::string>& once_functions() {
  static const std::set<std::string> k = {"now",
                                          "transaction_timestamp",
                                          "statement_timestamp",
                                          "current_date",
                                          "current_timestamp",
                                          "localtimestamp",
                                          "current_user",
                                          "current_schema",
                                          "lower",
                                          "upper",
                                          "make_interval",
                                          "to_timestamp",
                                          "jsonb_build_object",
                                          "json_build_object",
                                          "array_fill"};
  return k;
}

// True when a default is computed once for all existing rows (a constant, now(), a cast of one).
bool computed_once(const json& e) {
  if (!e.is_object() || e.empty()) return false;
  const std::string& k = e.begin().key();
  const json& v = e.begin().value();
  if (k == "A_Const" || k == "SQLValueFunction") return true;
  if (k == "TypeCast") return v.contains("arg") && computed_once(v["arg"]);
  if (k == "A_Expr") return (!v.contains("lexpr") || computed_once(v["lexpr"])) && computed_once(v["rexpr"]);
  if (k == "A_ArrayExpr") {
    for (const auto& el : v.value("elements", json::array()))
      if (!computed_once(el)) return false;
    return true;
  }
  if (k == "FuncCall") {
    if (!once_functions().count(last_name(v.value("funcname", json::array())))) return false;
    for (const auto& a : v.value("args", json::array()))
      if (!computed_once(a)) return false;
    return true;
  }
  return false;
}

void column_added(Context& c, const std::string& table, const json& col) {
  std::string name = str(col, "colname");
  std::string type = last_name(col.value("typeName", json::object()).value("names", json::array()));
  bool not_null = false, has_value = false, volatile_value = type.ends_with("serial");
  for (const auto& con : col.value("constraints", json::array())) {
    const json& k = con.value("Constraint", json::object());
    std::string t = str(k, "contype");
    not_null |= t == "CONSTR_NOTNULL" || t == "CONSTR_PRIMARY";
    if (t == "CONSTR_DEFAULT") {
      has_value = true;
      volatile_value |= !computed_once(k.value("raw_expr", json::object()));
    }
    volatile_value |= t == "CONSTR_IDENTITY" || t == "CONSTR_GENERATED";
  }
  has_value |= volatile_value;
  std::string what = "ADD COLUMN " + name + " to " + table;
  if (volatile_value)
    c.add("FL003", table, what + " with a value computed per row: the table is rewritten");
  else if (not_null && !has_value)
    c.add("FL004", table, what + " NOT NULL without a default: fails if the table has rows");
  else
    c.add("FL001", table, what);
}

void alter_table(Context& c, const std::string& table, const json& a) {
  std::string sub = str(a, "subtype"), col = str(a, "name");
  if (sub == "AT_AddColumn" && a.contains("def") && a["def"].contains("ColumnDef"))
    column_added(c, table, a["def"]["ColumnDef"]);
  else if (sub == "AT_AlterColumnType")
    c.add("FL005", table, "ALTER COLUMN " + col + " TYPE on " + table + ": rewrites the table and its indexes");
  else if (sub == "AT_SetNotNull")
    c.add("FL006", table, "SET NOT NULL on " + table + "." + col + ": scans every row");
  else if (sub == "AT_DropColumn")
    c.add("FL009", table, "DROP COLUMN " + col + " of " + table);
}
}  // namespace

void table_rules(Context& c) {
  const json& b = *c.body;
  if (c.kind == "CreateStmt" && b.contains("relation")) {
    std::string t = relation_name(b["relation"]);
    c.create(t);
    c.add("FL002", t, "CREATE TABLE " + t);
  } else if (c.kind == "CreateTableAsStmt" && b.contains("into")) {
    c.create(relation_name(b["into"].value("rel", json::object())));
  } else if (c.kind == "RenameStmt" && b.contains("relation")) {
    std::string t = relation_name(b["relation"]), type = str(b, "renameType");
    if (type == "OBJECT_COLUMN")
      c.add("FL007", t, "RENAME COLUMN " + str(b, "subname") + " of " + t + " to " + str(b, "newname"));
    else if (type == "OBJECT_TABLE")
      c.add("FL008", t, "RENAME TABLE " + t + " to " + str(b, "newname"));
  } else if (c.kind == "AlterTableStmt" && str(b, "objtype") == "OBJECT_TABLE" && b.contains("relation")) {
    std::string t = relation_name(b["relation"]);
    for (const auto& cmd : b.value("cmds", json::array()))
      if (cmd.contains("AlterTableCmd")) alter_table(c, t, cmd["AlterTableCmd"]);
  }
}

}  // namespace ferry::migrate::lint::detail
