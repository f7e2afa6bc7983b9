#include "migrate/sql_parser.hpp"

#include <pg_query.h>

#include <nlohmann/json.hpp>

#include "core/error.hpp"

namespace ferry::migrate {

namespace {
// Line and column of byte offset `pos` in `text`.
std::pair<int, int> line_col(const std::string& text, size_t pos) {
  int line = 1, col = 1;
  for (size_t i = 0; i < pos && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return {line, col};
}
}  // namespace

std::vector<Statement> split_statements(const std::string& sql, const std::string& file) {
  PgQuerySplitResult r = pg_query_split_with_parser(sql.c_str());
  if (r.error) {
    std::string msg = r.error->message ? r.error->message : "syntax error";
    size_t pos = r.error->cursorpos > 0 ? static_cast<size_t>(r.error->cursorpos - 1) : 0;
    pg_query_free_split_result(r);
    auto [line, col] = line_col(sql, pos);
    throw Error(ErrorKind::Config, file + ":" + std::to_string(line) + ":" + std::to_string(col) + ": " + msg);
  }
  std::vector<Statement> out;
  for (int i = 0; i < r.n_stmts; ++i) {
    size_t loc = static_cast<size_t>(r.stmts[i]->stmt_location);
    size_t len = r.stmts[i]->stmt_len == 0 ? sql.size() - loc : static_cast<size_t>(r.stmts[i]->stmt_len);
    std::string text = sql.substr(loc, len);
    // The parser's location includes leading whitespace and comments; point at the statement.
    size_t skip = 0;
    while (skip < text.size()) {
      if (std::isspace(static_cast<unsigned char>(text[skip]))) {
        ++skip;
      } else if (text.compare(skip, 2, "--") == 0) {
        size_t nl = text.find('\n', skip);
        skip = nl == std::string::npos ? text.size() : nl + 1;
      } else if (text.compare(skip, 2, "/*") == 0) {
        size_t end = text.find("*/", skip + 2);
        skip = end == std::string::npos ? text.size() : end + 2;
      } else {
        break;
      }
    }
    if (skip >= text.size()) continue;
    auto [line, col] = line_col(sql, loc + skip);
    out.push_back(Statement{text.substr(skip), line, col});
  }
  pg_query_free_split_result(r);
  return out;
}

namespace {
using nlohmann::json;

std::string check_node(const json& stmt) {
  if (!stmt.is_object()) return "";
  if (auto it = stmt.find("DropStmt"); it != stmt.end()) {
    std::string type = it->value("removeType", "");
    if (type == "OBJECT_TABLE" || type == "OBJECT_SCHEMA" || type == "OBJECT_MATVIEW")
      return "drops a " + std::string(type == "OBJECT_TABLE"    ? "table"
                                      : type == "OBJECT_SCHEMA" ? "schema"
                                                                : "materialized view");
  }
  if (stmt.contains("TruncateStmt")) return "truncates a table";
  if (auto it = stmt.find("DeleteStmt"); it != stmt.end() && !it->contains("whereClause"))
    return "deletes without WHERE";
  if (auto it = stmt.find("UpdateStmt"); it != stmt.end() && !it->contains("whereClause"))
    return "updates without WHERE";
  if (auto it = stmt.find("AlterTableStmt"); it != stmt.end()) {
    const json cmds = it->value("cmds", json::array());
    for (const auto& cmd : cmds) {
      auto c = cmd.find("AlterTableCmd");
      if (c == cmd.end()) continue;
      std::string sub = c->value("subtype", "");
      if (sub == "AT_DropColumn") return "drops column '" + c->value("name", "") + "'";
      if (sub == "AT_AlterColumnType") return "changes the type of column '" + c->value("name", "") + "'";
    }
  }
  return "";
}
}  // namespace

std::string destroys_data(const std::string& sql) {
  // Cheap prefilter: every destructive statement holds one of these words. Most migrations
  // hold none, and skip the parse.
  std::string lower;
  lower.reserve(sql.size());
  for (char c : sql) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  bool maybe = false;
  for (const char* w : {"drop", "truncate", "delete", "update", "type"}) maybe |= lower.find(w) != std::string::npos;
  if (!maybe) return "";
  PgQueryParseResult r = pg_query_parse(sql.c_str());
  std::string why;
  if (!r.error && r.parse_tree) {
    auto tree = json::parse(r.parse_tree, nullptr, false);
    if (!tree.is_discarded()) {
      const json stmts = tree.value("stmts", json::array());
      for (const auto& s : stmts) {
        why = check_node(s.value("stmt", json::object()));
        if (!why.empty()) break;
      }
    }
  }
  pg_query_free_parse_result(r);
  return why;
}

}  // namespace ferry::migrate
