// Internal to src/migrate/lint: what every rule family sees of one statement, and the families.
#pragma once
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "migrate/lint/lint.hpp"

namespace ferry::migrate::lint::detail {

using nlohmann::json;

// One statement as the parser read it, and where the migration stands when it runs.
struct Context {
  std::string kind;  // the parse node's name: "AlterTableStmt"
  const json* body = nullptr;
  std::string_view text;
  int line = 1, col = 1;
  std::string file;
  bool in_transaction = true;        // inside ferry's transaction or the file's own BEGIN
  long long lock_timeout_ms = 5000;  // in force for this statement (0: none)
  std::set<std::string>* created = nullptr;
  std::vector<Finding>* findings = nullptr;
  size_t first_of_statement = 0;  // index in *findings of this statement's first finding
  // The locking family's memory across statements of one transaction.
  std::string exclusive_table;   // an existing table held in ACCESS EXCLUSIVE since ...
  size_t exclusive_finding = 0;  // ... the finding (index in *findings) of the statement that took it
  int statements_after_exclusive = 0;

  bool is_new(const std::string& table) const;
  void create(const std::string& table);  // created by this migration: empty from here on
  void add(const std::string& code, const std::string& table, const std::string& detail);
};

// "schema.name" or "name" of a RangeVar, as written (the parser has already folded case).
std::string relation_name(const json& range_var);
// The last element of a list of {"String": {"sval": ...}} (a type or function name).
std::string last_name(const json& names);
// The field as a string, or "" when it is absent.
std::string str(const json& node, const char* field);

// One function per family, one family per file. Each reads the statement and adds findings.
void table_rules(Context& c);       // rules_tables.cpp: FL001-FL009
void constraint_rules(Context& c);  // rules_constraints.cpp: FL010-FL012
void index_rules(Context& c);       // rules_indexes.cpp: FL020, FL022, FL023
void data_rules(Context& c);        // rules_data.cpp: FL030-FL035
void locking_rules(Context& c);     // rules_locking.cpp: FL021, FL040-FL043 (runs last: reads the others' findings)

}  // namespace ferry::migrate::lint::detail
