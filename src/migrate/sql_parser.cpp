#include "migrate/sql_parser.hpp"

#include <pg_query.h>

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "core/error.hpp"
#include "migrate/sql_safety.hpp"

namespace ferry::migrate {

namespace {
// Line and column of byte offsets asked for in increasing order: the text is read once, however
// many statements it holds.
class LineCursor {
 public:
  explicit LineCursor(std::string_view text) : m_text(text) {}
  std::pair<int, int> at(size_t pos) {
    if (pos < m_pos) m_pos = 0, m_line = 1, m_col = 1;  // never asked backwards; stay right anyway
    pos = std::min(pos, m_text.size());
    for (; m_pos < pos; ++m_pos) {
      if (m_text[m_pos] == '\n') {
        ++m_line;
        m_col = 1;
      } else {
        ++m_col;
      }
    }
    return {m_line, m_col};
  }

 private:
  std::string_view m_text;
  size_t m_pos = 0;
  int m_line = 1, m_col = 1;
};

// PostgreSQL's error cursor counts characters (1-based); the byte offset of that character.
size_t byte_offset(std::string_view text, int cursor) {
  if (cursor <= 1) return 0;
  int chars = 0;
  for (size_t i = 0; i < text.size(); ++i)
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80 && ++chars == cursor) return i;
  return text.size();
}

// Length of the whitespace and comments (nested /* */, as PostgreSQL reads them) at the start.
size_t leading_blank(std::string_view t) {
  size_t i = 0;
  while (i < t.size()) {
    if (std::isspace(static_cast<unsigned char>(t[i]))) {
      ++i;
    } else if (t.compare(i, 2, "--") == 0) {
      size_t nl = t.find('\n', i);
      i = nl == std::string_view::npos ? t.size() : nl + 1;
    } else if (t.compare(i, 2, "/*") == 0) {
      int depth = 0;
      do {
        if (t.compare(i, 2, "/*") == 0) {
          ++depth;
          i += 2;
        } else if (t.compare(i, 2, "*/") == 0) {
          --depth;
          i += 2;
        } else {
          ++i;
        }
      } while (depth > 0 && i < t.size());
    } else {
      break;
    }
  }
  return i;
}

struct ParseError {
  std::string message;
  size_t offset;  // bytes, in the text given to the parser
};

struct Split {
  std::vector<std::pair<size_t, size_t>> stmts;  // byte offset and length of each statement
  std::optional<ParseError> error;
};

Split split_with(bool parser, const std::string& text) {
  PgQuerySplitResult r = parser ? pg_query_split_with_parser(text.c_str()) : pg_query_split_with_scanner(text.c_str());
  Split s;
  if (r.error) {
    s.error = ParseError{r.error->message ? r.error->message : "syntax error", byte_offset(text, r.error->cursorpos)};
  } else {
    for (int i = 0; i < r.n_stmts; ++i) {
      size_t loc = static_cast<size_t>(r.stmts[i]->stmt_location);
      size_t len = r.stmts[i]->stmt_len == 0 ? text.size() - loc : static_cast<size_t>(r.stmts[i]->stmt_len);
      s.stmts.push_back({loc, len});
    }
  }
  pg_query_free_split_result(r);
  return s;
}

// Hands the SQL to `fn` in pieces of about `chunk_bytes` that end between statements, each
// accepted whole by the parser: (piece, its byte offset in sql, the parser's split of it).
// PostgreSQL's scanner finds where a piece may end; a piece the parser rejects in its last
// statement (a cut inside BEGIN ATOMIC ... END, whose ';' the scanner cannot see) is read again
// twice as long, and so is one whose first statement does not end in it. Any other parse error
// is the file's.
using ChunkVisitor = std::function<void(const std::string& piece, size_t base, const Split& split)>;
void for_each_chunk(const std::string& sql, const std::string& file, size_t chunk_bytes, const ChunkVisitor& fn) {
  chunk_bytes = std::max<size_t>(chunk_bytes, 16);
  size_t pos = 0, window = chunk_bytes;
  LineCursor errors(sql);
  while (pos < sql.size()) {
    bool rest = sql.size() - pos <= window;
    std::string piece = sql.substr(pos, rest ? std::string::npos : window);
    size_t last_start = 0;
    if (!rest) {
      Split scan = split_with(false, piece);
      if (scan.error && scan.error->offset > 0 && scan.error->offset < piece.size()) {
        piece.resize(scan.error->offset);  // the piece ends inside a literal or comment: cut before it
        scan = split_with(false, piece);
      }
      if (scan.error || scan.stmts.size() < 2) {
        window *= 2;
        continue;
      }
      piece.resize(scan.stmts.back().first);
      last_start = scan.stmts[scan.stmts.size() - 2].first;
    }
    Split split = split_with(true, piece);
    if (split.error && !rest && split.error->offset >= last_start) {
      window *= 2;
      continue;
    }
    if (split.error) {
      auto [line, col] = errors.at(pos + split.error->offset);
      throw Error(ErrorKind::Config,
                  file + ":" + std::to_string(line) + ":" + std::to_string(col) + ": " + split.error->message);
    }
    fn(piece, pos, split);
    pos += piece.size();
    window = chunk_bytes;
  }
}
}  // namespace

void for_each_statement(const std::string& sql, const std::string& file, const StatementVisitor& fn,
                        size_t chunk_bytes) {
  LineCursor cursor(sql);
  for_each_chunk(sql, file, chunk_bytes, [&](const std::string&, size_t base, const Split& split) {
    for (auto [loc, len] : split.stmts) {
      std::string_view text = std::string_view(sql).substr(base + loc, len);
      size_t skip = leading_blank(text);
      if (skip >= text.size()) continue;
      auto [line, col] = cursor.at(base + loc + skip);
      fn(text.substr(skip), line, col);
    }
  });
}

std::vector<Statement> split_statements(const std::string& sql, const std::string& file, size_t chunk_bytes) {
  std::vector<Statement> out;
  for_each_statement(
      sql, file,
      [&](std::string_view text, int line, int col) {
        out.push_back({std::string(text), line, col});
      },
      chunk_bytes);
  return out;
}

std::string destroys_data(const std::string& sql) {
  std::string why;
  detail::MigrationReading reading;
  try {
    for_each_chunk(sql, "", k_split_chunk_bytes, [&](const std::string& piece, size_t, const Split&) {
      if (!why.empty()) return;
      PgQueryParseResult r = pg_query_parse(piece.c_str());
      auto tree = r.error || !r.parse_tree ? nlohmann::json() : nlohmann::json::parse(r.parse_tree, nullptr, false);
      pg_query_free_parse_result(r);
      why = reading.read(tree);
    });
  } catch (const Error&) {
    return "does not parse";
  }
  return why;
}

size_t check_statements(const std::string& sql, const std::string& file, bool transactional) {
  static const std::set<std::string> k_first_words = {"begin", "commit",  "rollback",  "end",    "abort",
                                                      "start", "prepare", "savepoint", "release"};
  std::set<std::string> savepoints;  // set by this SQL so far
  size_t count = 0;
  for_each_statement(sql, file, [&](std::string_view text, int line, int col) {
    ++count;
    if (!transactional) return;
    std::string word;
    for (char c : text) {
      if (!std::isalpha(static_cast<unsigned char>(c))) break;
      word.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
    if (!k_first_words.count(word)) return;  // the cheap test: most statements stop here
    std::string why = detail::transaction_misuse(std::string(text), savepoints);
    if (!why.empty())
      throw Error(ErrorKind::Config, file + ":" + std::to_string(line) + ":" + std::to_string(col) + ": " + why,
                  file.ends_with("up.sql") ? "ferry runs up.sql in its own transaction; remove it, or put "
                                             "'-- ferry:no-transaction' on the first line"
                                           : "ferry runs this file in its own transaction; remove it");
  });
  return count;
}

}  // namespace ferry::migrate
