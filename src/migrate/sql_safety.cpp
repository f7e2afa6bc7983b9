#include "migrate/sql_safety.hpp"

#include <pg_query.h>

#include <algorithm>

namespace ferry::migrate::detail {

namespace {
using nlohmann::json;

// Statement kinds that never change existing rows (their expressions are not run on rows, or
// must be immutable). Everything not here, and not read more closely below, changes data.
const std::set<std::string>& safe_kinds() {
  static const std::set<std::string> k = {"CreateStmt",
                                          "IndexStmt",
                                          "ViewStmt",
                                          "CreateSeqStmt",
                                          "AlterSeqStmt",
                                          "CompositeTypeStmt",
                                          "CreateEnumStmt",
                                          "AlterEnumStmt",
                                          "CreateRangeStmt",
                                          "CreateDomainStmt",
                                          "AlterDomainStmt",
                                          "CreateFunctionStmt",
                                          "AlterFunctionStmt",
                                          "CreateExtensionStmt",
                                          "CommentStmt",
                                          "GrantStmt",
                                          "GrantRoleStmt",
                                          "AlterDefaultPrivilegesStmt",
                                          "VariableSetStmt",
                                          "VariableShowStmt",
                                          "CreateTrigStmt",
                                          "CreatePolicyStmt",
                                          "AlterPolicyStmt",
                                          "AlterOwnerStmt",
                                          "RenameStmt",
                                          "AlterObjectSchemaStmt",
                                          "CreateCastStmt",
                                          "DefineStmt",
                                          "CreateStatsStmt",
                                          "AlterStatsStmt",
                                          "CreateOpClassStmt",
                                          "CreateOpFamilyStmt",
                                          "CreateConversionStmt",
                                          "CreateRoleStmt",
                                          "AlterRoleStmt",
                                          "AlterRoleSetStmt",
                                          "AlterDatabaseSetStmt",
                                          "CreateEventTrigStmt",
                                          "VacuumStmt",
                                          "ClusterStmt",
                                          "ReindexStmt",
                                          "LockStmt",
                                          "TransactionStmt",
                                          "NotifyStmt",
                                          "ListenStmt",
                                          "UnlistenStmt",
                                          "DiscardStmt",
                                          "CheckPointStmt",
                                          "SecLabelStmt",
                                          "CreatePLangStmt",
                                          "CreateForeignTableStmt",
                                          "CreateForeignServerStmt",
                                          "CreateFdwStmt",
                                          "CreateUserMappingStmt",
                                          "CreatePublicationStmt",
                                          "AlterPublicationStmt",
                                          "CreateTransformStmt",
                                          "CreateAmStmt",
                                          "AlterTypeStmt",
                                          "AlterCollationStmt",
                                          "ConstraintsSetStmt",
                                          "DeallocateStmt",
                                          "RuleStmt"};
  return k;
}

// Functions that read or compute, and change no rows, in an INSERT, SELECT or column default.
const std::set<std::string>& safe_functions() {
  static const std::set<std::string> k = {"now",
                                          "clock_timestamp",
                                          "statement_timestamp",
                                          "transaction_timestamp",
                                          "timeofday",
                                          "current_setting",
                                          "set_config",
                                          "nextval",
                                          "currval",
                                          "lastval",
                                          "gen_random_uuid",
                                          "uuid_generate_v4",
                                          "random",
                                          "lower",
                                          "upper",
                                          "initcap",
                                          "length",
                                          "char_length",
                                          "octet_length",
                                          "concat",
                                          "concat_ws",
                                          "substr",
                                          "substring",
                                          "replace",
                                          "btrim",
                                          "ltrim",
                                          "rtrim",
                                          "left",
                                          "right",
                                          "lpad",
                                          "rpad",
                                          "split_part",
                                          "regexp_replace",
                                          "regexp_match",
                                          "position",
                                          "strpos",
                                          "overlay",
                                          "format",
                                          "to_char",
                                          "to_date",
                                          "to_timestamp",
                                          "to_number",
                                          "date_trunc",
                                          "date_part",
                                          "extract",
                                          "make_date",
                                          "make_interval",
                                          "age",
                                          "md5",
                                          "sha256",
                                          "encode",
                                          "decode",
                                          "abs",
                                          "round",
                                          "ceil",
                                          "floor",
                                          "trunc",
                                          "mod",
                                          "power",
                                          "sqrt",
                                          "count",
                                          "sum",
                                          "min",
                                          "max",
                                          "avg",
                                          "array_agg",
                                          "string_agg",
                                          "json_agg",
                                          "jsonb_agg",
                                          "bool_and",
                                          "bool_or",
                                          "every",
                                          "row_number",
                                          "rank",
                                          "dense_rank",
                                          "json_build_object",
                                          "jsonb_build_object",
                                          "json_build_array",
                                          "jsonb_build_array",
                                          "to_json",
                                          "to_jsonb",
                                          "jsonb_set",
                                          "array_length",
                                          "unnest",
                                          "generate_series",
                                          "cardinality",
                                          "string_to_array",
                                          "array_to_string",
                                          "quote_ident",
                                          "quote_literal",
                                          "pg_typeof",
                                          "version",
                                          "current_database",
                                          "current_schema",
                                          "timezone",
                                          "pg_sleep",
                                          "coalesce",
                                          "nullif"};
  return k;
}

// DROP of these takes no rows with it (without CASCADE).
const std::set<std::string>& safe_drops() {
  static const std::set<std::string> k = {
      "OBJECT_INDEX",     "OBJECT_VIEW",     "OBJECT_FUNCTION", "OBJECT_PROCEDURE", "OBJECT_ROUTINE",
      "OBJECT_TRIGGER",   "OBJECT_POLICY",   "OBJECT_TYPE",     "OBJECT_DOMAIN",    "OBJECT_STATISTIC_EXT",
      "OBJECT_AGGREGATE", "OBJECT_OPERATOR", "OBJECT_CAST",     "OBJECT_COLLATION", "OBJECT_RULE"};
  return k;
}

// ALTER TABLE subcommands that keep every existing value.
const std::set<std::string>& safe_alters() {
  static const std::set<std::string> k = {"AT_AddColumn",
                                          "AT_AddColumnToView",
                                          "AT_ColumnDefault",
                                          "AT_DropNotNull",
                                          "AT_SetNotNull",
                                          "AT_CheckNotNull",
                                          "AT_SetStatistics",
                                          "AT_SetOptions",
                                          "AT_ResetOptions",
                                          "AT_SetStorage",
                                          "AT_SetCompression",
                                          "AT_AddIndex",
                                          "AT_AddConstraint",
                                          "AT_ValidateConstraint",
                                          "AT_AddIndexConstraint",
                                          "AT_AlterConstraint",
                                          "AT_DropConstraint",
                                          "AT_ClusterOn",
                                          "AT_DropCluster",
                                          "AT_SetLogged",
                                          "AT_SetUnLogged",
                                          "AT_SetAccessMethod",
                                          "AT_SetTableSpace",
                                          "AT_SetRelOptions",
                                          "AT_ResetRelOptions",
                                          "AT_ReplaceRelOptions",
                                          "AT_EnableTrig",
                                          "AT_EnableAlwaysTrig",
                                          "AT_EnableReplicaTrig",
                                          "AT_DisableTrig",
                                          "AT_EnableTrigAll",
                                          "AT_DisableTrigAll",
                                          "AT_EnableTrigUser",
                                          "AT_DisableTrigUser",
                                          "AT_EnableRule",
                                          "AT_EnableAlwaysRule",
                                          "AT_EnableReplicaRule",
                                          "AT_DisableRule",
                                          "AT_AddInherit",
                                          "AT_DropInherit",
                                          "AT_AddOf",
                                          "AT_DropOf",
                                          "AT_ReplicaIdentity",
                                          "AT_EnableRowSecurity",
                                          "AT_DisableRowSecurity",
                                          "AT_ForceRowSecurity",
                                          "AT_NoForceRowSecurity",
                                          "AT_GenericOptions",
                                          "AT_AttachPartition",
                                          "AT_DetachPartition",
                                          "AT_DetachPartitionFinalize",
                                          "AT_AddIdentity",
                                          "AT_SetIdentity",
                                          "AT_DropIdentity",
                                          "AT_ChangeOwner",
                                          "AT_DropExpression"};
  return k;
}

// The called function's name, qualified as written ("app.lower"); a pg_catalog qualification
// is dropped, so only the built-ins themselves match the safe list.
std::string function_name(const json& funcname) {
  std::string name;
  for (const auto& part : funcname)
    if (auto s = part.find("String"); s != part.end()) name += (name.empty() ? "" : ".") + s->value("sval", "");
  return name.starts_with("pg_catalog.") ? name.substr(11) : name;
}

// True when a tree holds a RESTART option (ALTER SEQUENCE ... RESTART, an identity's RESTART).
bool restarts(const json& node) {
  if (node.is_array()) return std::any_of(node.begin(), node.end(), restarts);
  if (!node.is_object()) return false;
  if (auto d = node.find("DefElem"); d != node.end() && d->value("defname", "") == "restart") return true;
  for (const auto& [key, val] : node.items())
    if (restarts(val)) return true;
  return false;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// The first thing in a tree that changes rows when the tree runs: a data-changing statement
// nested in a CTE, an ON CONFLICT DO UPDATE, a call of a function ferry does not know.
std::string scan(const json& node) {
  if (node.is_array()) {
    for (const auto& x : node)
      if (auto why = scan(x); !why.empty()) return why;
    return "";
  }
  if (!node.is_object()) return "";
  for (const auto& [key, val] : node.items()) {
    if (key == "UpdateStmt") return "updates rows";
    if (key == "DeleteStmt") return "deletes rows";
    if (key == "MergeStmt") return "merges rows (MERGE)";
    if (key == "onConflictClause" && val.value("action", "") == "ONCONFLICT_UPDATE")
      return "updates existing rows (INSERT ... ON CONFLICT DO UPDATE)";
    if (key == "FuncCall") {
      std::string f = function_name(val.value("funcname", json::array()));
      if (!safe_functions().count(f)) return "calls " + f + "(), which may change rows";
    }
    if (auto why = scan(val); !why.empty()) return why;
  }
  return "";
}

std::string read_drop(const json& body) {
  std::string type = body.value("removeType", "");
  if (type == "OBJECT_TABLE") return "drops a table";
  if (type == "OBJECT_SCHEMA") return "drops a schema";
  if (type == "OBJECT_MATVIEW") return "drops a materialized view";
  std::string what = lower(type.substr(type.find('_') + 1));
  std::replace(what.begin(), what.end(), '_', ' ');
  if (!safe_drops().count(type)) return "drops a " + what;
  if (body.value("behavior", "") == "DROP_CASCADE") return "drops a " + what + " with CASCADE";
  return "";
}

std::string read_alter(const json& body) {
  for (const auto& cmd : body.value("cmds", json::array())) {
    auto c = cmd.find("AlterTableCmd");
    if (c == cmd.end()) continue;
    std::string sub = c->value("subtype", "");
    if (sub == "AT_DropColumn") return "drops column '" + c->value("name", "") + "'";
    if (sub == "AT_AlterColumnType") return "changes the type of column '" + c->value("name", "") + "'";
    if (!safe_alters().count(sub)) return "alters a table (" + sub.substr(3) + ")";
    // A new column's default is computed, and a CHECK is evaluated, for every existing row (and
    // PostgreSQL does not require a CHECK's functions to be immutable).
    if (sub == "AT_AddColumn" || sub == "AT_AddConstraint")
      if (auto why = scan(c->value("def", json::object())); !why.empty()) return why;
    if (sub == "AT_DropIdentity")
      return "drops the identity of column '" + c->value("name", "") + "' with its sequence and current value";
    if (sub == "AT_SetIdentity" && restarts(c->value("def", json::object())))
      return "restarts the identity of column '" + c->value("name", "") + "', which hands out existing keys again";
  }
  return "";
}
}  // namespace

std::string changes_rows(const json& stmt) {
  if (!stmt.is_object() || stmt.empty()) return "";
  const std::string kind = stmt.begin().key();
  const json& body = stmt.begin().value();
  if (kind == "DropStmt") return read_drop(body);
  if (kind == "AlterTableStmt") return read_alter(body);
  if (kind == "InsertStmt" || kind == "SelectStmt") return scan(stmt);
  if (kind == "CreateTableAsStmt" || kind == "ExplainStmt") return scan(body.value("query", json::object()));
  if (kind == "CreateSchemaStmt") {
    for (const auto& element : body.value("schemaElts", json::array()))
      if (auto why = changes_rows(element); !why.empty()) return why;
    return "";
  }
  // A domain CHECK is evaluated for every stored value of the domain, like a table CHECK.
  if (kind == "AlterDomainStmt" && body.value("subtype", "") == "C") return scan(body.value("def", json::object()));
  if (kind == "AlterSeqStmt" && restarts(body.value("options", json::array())))
    return "restarts a sequence, which hands out existing keys again";
  if (safe_kinds().count(kind)) return "";
  if (kind == "UpdateStmt") return body.contains("whereClause") ? "updates rows" : "updates without WHERE";
  if (kind == "DeleteStmt") return body.contains("whereClause") ? "deletes rows" : "deletes without WHERE";
  if (kind == "TruncateStmt") return "truncates a table";
  if (kind == "MergeStmt") return "merges rows (MERGE)";
  if (kind == "DoStmt") return "runs a DO block";
  if (kind == "CallStmt") return "calls a procedure (CALL)";
  if (kind == "CopyStmt") return "copies data (COPY)";
  if (kind == "RefreshMatViewStmt") return "refreshes a materialized view";
  return "runs a statement ferry cannot prove leaves rows alone (" + kind + ")";
}

namespace {
// True when a statement creates or changes what a trigger or rule does on INSERT: a trigger or
// rule created, a function replaced (it may be a trigger's), a trigger or rule enabled.
bool changes_triggers(const json& stmt) {
  if (stmt.contains("CreateTrigStmt") || stmt.contains("RuleStmt")) return true;
  if (auto f = stmt.find("CreateFunctionStmt"); f != stmt.end()) return f->value("replace", false);
  auto a = stmt.find("AlterTableStmt");
  if (a == stmt.end()) return false;
  for (const auto& cmd : a->value("cmds", json::array()))
    if (auto c = cmd.find("AlterTableCmd"); c != cmd.end() && c->value("subtype", "").starts_with("AT_Enable") &&
                                            !c->value("subtype", "").ends_with("RowSecurity"))
      return true;
  return false;
}
}  // namespace

std::string MigrationReading::read(const json& tree) {
  if (!tree.is_object()) return "cannot be read by the parser";
  for (const auto& s : tree.value("stmts", json::array())) {
    const json stmt = s.value("stmt", json::object());
    // An event trigger runs its function on the DDL after it: nothing after it can be read.
    if (m_event_trigger) return "runs statements after creating an event trigger, which may change rows";
    if (stmt.contains("CreateEventTrigStmt")) m_event_trigger = true;
    if (changes_triggers(stmt)) m_trigger = true;
    if (m_trigger && (stmt.contains("InsertStmt") || stmt.contains("CopyStmt")))
      return "inserts rows after creating or changing a trigger, rule or function, which may change existing rows";
    if (auto why = changes_rows(stmt); !why.empty()) return why;
  }
  return "";
}

std::string transaction_misuse(const std::string& statement, std::set<std::string>& savepoints) {
  PgQueryParseResult r = pg_query_parse(statement.c_str());
  json tree = r.error || !r.parse_tree ? json() : json::parse(r.parse_tree, nullptr, false);
  pg_query_free_parse_result(r);
  if (!tree.is_object()) return "";
  for (const auto& s : tree.value("stmts", json::array())) {
    const json stmt = s.value("stmt", json::object());
    auto t = stmt.find("TransactionStmt");
    if (t == stmt.end()) continue;
    std::string kind = t->value("kind", "");
    std::string name = t->value("savepoint_name", "");
    if (kind == "TRANS_STMT_SAVEPOINT") {
      savepoints.insert(name);
    } else if (kind == "TRANS_STMT_RELEASE" || kind == "TRANS_STMT_ROLLBACK_TO") {
      if (!savepoints.count(name))
        return (kind == "TRANS_STMT_RELEASE" ? "RELEASE" : "ROLLBACK TO") + std::string(" of savepoint '") + name +
               "', which this file did not set";
      if (kind == "TRANS_STMT_RELEASE") savepoints.erase(name);
    } else {
      std::string what = kind.substr(std::string("TRANS_STMT_").size());
      std::replace(what.begin(), what.end(), '_', ' ');
      return what + " inside a transactional migration";
    }
  }
  return "";
}

}  // namespace ferry::migrate::detail
