// The linter's driver: statements split and parsed by PostgreSQL's parser, each handed to every
// rule family in turn; accept-risk directives; levels scaled by the target's table sizes.
#include "migrate/lint/lint.hpp"

#include <pg_query.h>

#include <algorithm>
#include <cctype>

#include "core/error.hpp"
#include "migrate/lint/rules.hpp"
#include "migrate/sql_parser.hpp"
#include "migrate/sql_safety.hpp"

namespace ferry::migrate::lint {

namespace detail {
namespace {
// "public.tasks" and "tasks" name the same table as far as "created earlier" goes.
std::string key(const std::string& table) { return table.starts_with("public.") ? table.substr(7) : table; }
}  // namespace

bool Context::is_new(const std::string& table) const { return created->count(key(table)) > 0; }
void Context::create(const std::string& table) { created->insert(key(table)); }

void Context::add(const std::string& code, const std::string& table, const std::string& detail) {
  Finding f;
  f.code = code;
  f.file = file;
  f.line = line;
  f.col = col;
  f.table = table;
  std::string_view first = text.substr(0, text.find('\n'));
  f.statement = first.size() > 100 ? std::string(first.substr(0, 97)) + "..." : std::string(first);
  f.detail = detail;
  if (!table.empty() && is_new(table)) f.size_class = SizeClass::New;
  findings->push_back(std::move(f));
}

std::string str(const json& node, const char* field) {
  auto it = node.find(field);
  return it != node.end() && it->is_string() ? it->get<std::string>() : "";
}

std::string relation_name(const json& rv) {
  std::string schema = str(rv, "schemaname"), name = str(rv, "relname");
  return schema.empty() ? name : schema + "." + name;
}

std::string last_name(const json& names) {
  if (!names.is_array() || names.empty()) return "";
  const json& last = names.back();
  return last.contains("String") ? str(last["String"], "sval") : "";
}
}  // namespace detail

namespace {
using detail::json;

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

// `-- ferry:accept-risk CODE reason` lines: the code must name a rule and a reason must follow.
std::map<std::string, std::string> accepted_risks(const std::string& sql, const std::string& file) {
  std::map<std::string, std::string> out;
  size_t pos = 0;
  for (int line = 1; pos <= sql.size(); ++line) {
    size_t nl = sql.find('\n', pos);
    std::string l = trim(std::string_view(sql).substr(pos, nl == std::string::npos ? std::string::npos : nl - pos));
    pos = nl == std::string::npos ? sql.size() + 1 : nl + 1;
    if (!l.starts_with("--")) continue;
    l = trim(l.substr(2));
    if (!l.starts_with("ferry:accept-risk")) continue;
    std::string rest = trim(l.substr(17));
    std::string code = rest.substr(0, rest.find_first_of(" \t"));
    std::string reason = trim(rest.substr(code.size()));
    std::string at = file + ":" + std::to_string(line) + ": ";
    if (!find_rule(code))
      throw Error(ErrorKind::Config, at + "ferry:accept-risk names no lint rule '" + code + "'",
                  "`ferry lint --rules` lists the codes");
    if (reason.empty())
      throw Error(ErrorKind::Config, at + "ferry:accept-risk " + code + " needs a reason",
                  "write '-- ferry:accept-risk " + code + " WHY THE RISK IS ACCEPTED'");
    out[code] = reason;
  }
  return out;
}

// lock_timeout as a SET statement leaves it: 0 = none (also RESET: the server's default).
long long lock_timeout_after(const json& set, long long current) {
  std::string kind = detail::str(set, "kind");
  if (kind == "VAR_RESET" || kind == "VAR_SET_DEFAULT") return 0;
  if (kind != "VAR_SET_VALUE" || !set.contains("args") || set["args"].empty()) return current;
  const json& c = set["args"][0].value("A_Const", json::object());
  if (c.contains("ival")) return c["ival"].value("ival", 0);
  if (c.contains("sval")) {
    std::string v = detail::str(c["sval"], "sval");
    return std::all_of(v.begin(), v.end(),
                       [](char ch) { return ch == '0' || std::isspace(static_cast<unsigned char>(ch)) || ch == '.'; })
               ? 0
               : std::max(current, 1LL);
  }
  return current;
}

void track_session(detail::Context& c) {
  const json& b = *c.body;
  if (c.kind == "VariableSetStmt" && detail::str(b, "name") == "lock_timeout") {
    c.lock_timeout_ms = lock_timeout_after(b, c.lock_timeout_ms);
  } else if (c.kind == "TransactionStmt") {
    std::string k = detail::str(b, "kind");
    bool begins = k == "TRANS_STMT_BEGIN" || k == "TRANS_STMT_START";
    if (begins || k == "TRANS_STMT_COMMIT" || k == "TRANS_STMT_ROLLBACK" || k == "TRANS_STMT_PREPARE") {
      c.in_transaction = begins;
      c.exclusive_table.clear();
    }
  }
}

Level level_for(const Rule& r, SizeClass s) {
  if (s == SizeClass::New) return r.levels[0];
  if (s == SizeClass::Unknown) return r.levels[2];
  return r.levels[static_cast<int>(s)];
}
}  // namespace

SizeClass classify(const std::optional<TableSize>& size, const Thresholds& t) {
  if (!size) return SizeClass::Unknown;
  auto by = [](double v, double medium, double high) {
    return v >= high ? SizeClass::Large : v >= medium ? SizeClass::Medium : SizeClass::Small;
  };
  SizeClass rows = by(size->rows, t.medium_rows, t.high_rows);
  SizeClass bytes =
      by(static_cast<double>(size->bytes), static_cast<double>(t.medium_bytes), static_cast<double>(t.high_bytes));
  return std::max(rows, bytes);
}

std::vector<Finding> Linter::lint(const Source& src) {
  auto accepted = accepted_risks(src.sql, src.file);
  std::vector<Finding> out;
  detail::Context c;
  c.file = src.file;
  c.in_transaction = src.transactional;
  c.lock_timeout_ms = src.lock_timeout_ms;
  c.created = &m_created;
  c.findings = &out;
  migrate::detail::MigrationReading reading;
  std::string loss;
  for_each_statement(src.sql, src.file, [&](std::string_view text, int line, int col) {
    std::string sql(text);
    PgQueryParseResult r = pg_query_parse(sql.c_str());
    json tree = r.error ? json() : json::parse(r.parse_tree, nullptr, false);
    pg_query_free_parse_result(r);
    if (loss.empty()) loss = reading.read(tree);
    if (!tree.is_object() || !tree.contains("stmts")) return;  // the split accepted it: nothing to read
    for (const auto& s : tree["stmts"]) {
      if (!s.contains("stmt") || !s["stmt"].is_object() || s["stmt"].empty()) continue;
      c.kind = s["stmt"].begin().key();
      c.body = &s["stmt"].begin().value();
      c.text = text;
      c.line = line;
      c.col = col;
      c.first_of_statement = out.size();
      track_session(c);
      detail::table_rules(c);
      detail::constraint_rules(c);
      detail::index_rules(c);
      detail::data_rules(c);
      detail::locking_rules(c);
    }
  });
  if (src.data_loss) *src.data_loss = loss;
  for (auto& f : out) {
    const Rule* r = find_rule(f.code);
    f.level = level_for(*r, f.size_class);
    if (auto it = accepted.find(f.code); it != accepted.end()) f.accepted = true, f.accept_reason = it->second;
    if (!f.table.empty() && f.size_class != SizeClass::New) m_named.insert(f.table);
  }
  return out;
}

std::set<std::string> Linter::tables() const { return m_named; }

void scale(std::vector<Finding>& findings, const std::map<std::string, TableSize>& sizes, const Thresholds& t) {
  for (auto& f : findings) {
    if (f.size_class == SizeClass::New || f.table.empty()) continue;
    auto it = sizes.find(f.table);
    f.size = it == sizes.end() ? std::nullopt : std::optional<TableSize>(it->second);
    f.size_class = classify(f.size, t);
    f.level = level_for(*find_rule(f.code), f.size_class);
  }
}

}  // namespace ferry::migrate::lint
