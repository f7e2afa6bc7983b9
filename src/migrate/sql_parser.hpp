// The only user of libpg_query: statements split and read by PostgreSQL's own parser.
#pragma once
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace ferry::migrate {

struct Statement {
  std::string text;  // without the trailing semicolon
  int line = 1;      // 1-based line of its first character in the file
  int col = 1;
};

// How much SQL the parser reads at once: memory stays flat whatever the file's size.
inline constexpr size_t k_split_chunk_bytes = 1 << 20;

// Calls `fn` for each statement, in order, as the real parser splits them (dollar quotes,
// nested comments, string literals holding ';', function bodies, BEGIN ATOMIC). Linear time;
// memory does not grow with the file. Throws Error(Config) "FILE:LINE:COL: syntax error ..."
// when the SQL does not parse; `file` names the source in that message.
using StatementVisitor = std::function<void(std::string_view text, int line, int col)>;
void for_each_statement(const std::string& sql, const std::string& file, const StatementVisitor& fn,
                        size_t chunk_bytes = k_split_chunk_bytes);

std::vector<Statement> split_statements(const std::string& sql, const std::string& file,
                                        size_t chunk_bytes = k_split_chunk_bytes);

// Why a migration may change or destroy existing data, or "" when every statement is of a kind
// known to leave existing rows alone (CREATE TABLE/INDEX/VIEW/FUNCTION..., ADD COLUMN, COMMENT,
// GRANT, plain INSERT, SELECT of builtins, SET...). Anything else (UPDATE, DELETE, MERGE, DO,
// CALL, COPY, TRUNCATE, DROP TABLE/COLUMN, ALTER COLUMN TYPE, INSERT ... ON CONFLICT DO UPDATE,
// a call of a function ferry does not know, SQL that does not parse) counts as changing data.
std::string destroys_data(const std::string& sql);

// Parses a whole file and counts its statements (a syntax error throws as above). When ferry
// runs the file inside its own transaction (`transactional`), also refuses, with Error(Config)
// "FILE:LINE:COL: ...", the first transaction control statement: BEGIN, COMMIT, ROLLBACK, END,
// ABORT, PREPARE TRANSACTION, or a RELEASE / ROLLBACK TO of a savepoint the file did not set.
size_t check_statements(const std::string& sql, const std::string& file, bool transactional);

}  // namespace ferry::migrate
