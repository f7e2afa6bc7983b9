// The only user of libpg_query: statements split and read by PostgreSQL's own parser.
#pragma once
#include <string>
#include <vector>

namespace ferry::migrate {

struct Statement {
  std::string text;  // without the trailing semicolon
  int line = 1;      // 1-based line of its first character in the file
  int col = 1;
};

// Splits SQL into statements with the real parser (dollar quotes, comments, string literals
// holding ';', function bodies). Throws Error(Config) "FILE:LINE:COL: syntax error ..." when
// the SQL does not parse; `file` names the source in that message.
std::vector<Statement> split_statements(const std::string& sql, const std::string& file);

// Why a statement destroys data (drop table/column, type change, truncate, delete or update
// without WHERE), or "" when it does not. Empty for SQL that does not parse.
std::string destroys_data(const std::string& sql);

}  // namespace ferry::migrate
