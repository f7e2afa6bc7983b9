#include "migrate/alembic.hpp"

#include <map>
#include <optional>
#include <regex>
#include <sstream>

#include "core/error.hpp"
#include "core/text.hpp"
#include "db/introspect.hpp"

namespace ferry::migrate {

std::string alembic_run(transport::Transport& t, const config::MigrationsSource& src, const std::string& args,
                        std::optional<Millis> timeout) {
  // `command` is written by the user as shell words ("alembic -c /app/alembic.ini").
  auto cmd = transport::Command::shell(src.command + " " + args);
  cmd.env = src.env;  // ${VAR} values in `command`: expanded by the shell from its environment
  cmd.timeout = timeout;
  auto r = t.run(cmd);
  if (r.timed_out) throw Error(ErrorKind::Command, "'" + src.command + " " + args + "' timed out on " + t.describe());
  if (r.exit_code != 0)
    throw Error(ErrorKind::Command, "'" + src.command + " " + args + "' exited with " + std::to_string(r.exit_code) +
                                        " on " + t.describe() +
                                        (r.failure_text().empty() ? "" : ": " + r.failure_text()));
  return r.out;
}

std::vector<AlembicRevision> alembic_history(transport::Transport& t, const config::MigrationsSource& src) {
  std::string out = alembic_run(t, src, "history", Millis(120'000));
  // Lines: "b2 -> c3 (head), message" / "<base> -> a1, message"
  static const std::regex k_line(R"(^\s*(\S+) -> (\S+?)(?: \([^)]*\))*, ?(.*)$)");
  std::map<std::string, AlembicRevision> by_down;
  std::istringstream in(out);
  std::string line;
  size_t count = 0;
  while (std::getline(in, line)) {
    std::smatch m;
    if (!std::regex_match(line, m, k_line)) continue;
    AlembicRevision r{m[2], m[1] == "<base>" ? "" : std::string(m[1]), m[3]};
    if (by_down.count(r.down))
      throw Error(ErrorKind::Config, "alembic history branches after '" +
                                         (r.down.empty() ? std::string("<base>") : r.down) +
                                         "'; ferry supports one line of revisions");
    by_down[r.down] = r;
    ++count;
  }
  std::vector<AlembicRevision> chain;
  std::string at;
  while (by_down.count(at)) {
    chain.push_back(by_down[at]);
    at = chain.back().id;
  }
  if (chain.size() != count) throw Error(ErrorKind::Config, "alembic history is not one chain from base to head");
  return chain;
}

std::string alembic_current(db::Connection& db) {
  // Found through search_path, as Alembic finds it; read only when it is a plain table whose
  // row-level security policies (if any) do not apply to this role: reading a view, or a table
  // whose policies apply, runs its owner's code as the role that runs ferry.
  auto t = db.exec(
      std::string("SELECT n.nspname, c.relname, c.relkind OPERATOR(pg_catalog.=) 'r' AND NOT ") +
      db::k_row_security_applies +
      " FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace "
      "WHERE c.oid OPERATOR(pg_catalog.=) pg_catalog.to_regclass('alembic_version')");
  if (t.rows() == 0) return "";
  const std::string table = db::quote_qualified(t.text(0, 0), t.text(0, 1));
  if (!t.boolean(0, 2))
    throw Error(ErrorKind::Refused, "alembic_version (" + table +
                                        ") is not a plain table this role can read without running its owner's "
                                        "code (a view, or a table whose row-level security applies): ferry does "
                                        "not read it; make it Alembic's table again");
  // The check above and this read are two statements: the read itself refuses what the check
  // refused, so a table swapped for a view, or a policy switched on, in between is not read.
  // TABLESAMPLE reads only a table or a materialized view (at 100%, every row), and
  // row_security = off makes a policy that applies an error rather than code that runs.
  try {
    auto r = db.exec(std::string(db::k_row_security_off) + "SELECT version_num FROM " + table +
                     " TABLESAMPLE pg_catalog.system (100)");
    return r.rows() ? r.text(0, 0) : "";
  } catch (const db::DbError& e) {
    if (e.sqlstate() != "42501" && e.sqlstate() != "0A000") throw;
    throw Error(ErrorKind::Refused, "alembic_version (" + table + ") changed while ferry read it: " + e.what() +
                                        "; ferry does not read it; make it Alembic's table again");
  }
}

std::vector<AlembicRevision> alembic_pending(const std::vector<AlembicRevision>& chain, const std::string& current) {
  if (current.empty()) return chain;
  for (size_t i = 0; i < chain.size(); ++i)
    if (chain[i].id == current) return {chain.begin() + static_cast<long>(i) + 1, chain.end()};
  throw Error(ErrorKind::Refused,
              "drift: the database is at alembic revision '" + current + "', which the migration scripts do not know");
}

bool alembic_reached(const std::vector<AlembicRevision>& chain, const std::string& current, const std::string& rev) {
  if (rev.empty()) return true;
  long at_current = -1, at_rev = -1;
  for (size_t i = 0; i < chain.size(); ++i) {
    if (chain[i].id == current) at_current = static_cast<long>(i);
    if (chain[i].id == rev) at_rev = static_cast<long>(i);
  }
  return at_current >= 0 && at_rev >= 0 && at_rev <= at_current;
}

std::vector<AlembicSql> split_alembic_sql(const std::string& out) {
  static const std::regex k_running(R"(^-- Running upgrade (\S*) ?-> (\S+)\s*$)");
  std::vector<AlembicSql> parts;
  std::istringstream in(out);
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    std::smatch m;
    if (std::regex_match(line, m, k_running)) {
      parts.push_back({m[2], std::string(static_cast<size_t>(n), '\n'), n});
      continue;
    }
    if (parts.empty()) continue;
    std::string t = trim(line);
    if (t == "COMMIT;" || t == "BEGIN;") t.clear();  // the run's own transaction, not the revision's
    parts.back().sql += (t.empty() ? std::string() : line) + "\n";
  }
  return parts;
}

std::vector<AlembicSql> alembic_upgrade_sql(transport::Transport& t, const config::MigrationsSource& src,
                                            const std::string& current, bool& transactional) {
  std::string range = current.empty() ? std::string("head") : shell_quote(current + ":head");
  std::string out = alembic_run(t, src, "upgrade " + range + " --sql", Millis(120'000));
  transactional = out.starts_with("BEGIN;") || out.find("\nBEGIN;") != std::string::npos;
  return split_alembic_sql(out);
}

std::map<std::string, std::string> alembic_paths(transport::Transport& t, const config::MigrationsSource& src) {
  std::string out = alembic_run(t, src, "history --verbose", Millis(120'000));
  static const std::regex k_rev(R"(^Rev: (\S+).*$)"), k_path(R"(^Path: (.+?)\s*$)");
  std::map<std::string, std::string> paths;
  std::istringstream in(out);
  std::string line, rev;
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_match(line, m, k_rev))
      rev = m[1];
    else if (std::regex_match(line, m, k_path) && !rev.empty())
      paths[rev] = m[1];
  }
  return paths;
}

}  // namespace ferry::migrate
