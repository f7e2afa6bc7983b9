#include "steps/restore_counts.hpp"

#include "db/introspect.hpp"
#include "steps/recovery.hpp"

namespace ferry::steps {

namespace {

// The user tables (schema, name, oid).
const char* k_user_tables =
    "SELECT n.nspname, c.relname, c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = "
    "c.relnamespace WHERE c.relkind = 'r' AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'";

constexpr long long k_early_min_bytes = 8 << 20;  // smaller tables: counted after pg_restore, in one statement
}  // namespace

RestoreCounts::RestoreCounts(const config::Environment& env, std::string scratch,
                             const std::map<std::string, long long>& expected)
    : m_env(env), m_scratch(std::move(scratch)), m_expected(expected) {}

RestoreCounts::~RestoreCounts() = default;

// Counting early needs a role that row-level security does not filter (policies are created
// after the data: a count before them could differ from the sidecar's), and names a line of
// pg_restore's output cannot cut (no line break in any table's name).
bool RestoreCounts::usable() {
  if (m_usable >= 0) return m_usable == 1;
  m_usable = 0;
  m_db = std::make_unique<db::Connection>(connect_params(m_env, m_scratch));
  auto r = m_db->exec(std::string("SELECT (SELECT rolsuper OR rolbypassrls FROM pg_catalog.pg_roles WHERE rolname = "
                                  "current_user) AND NOT EXISTS (") +
                      k_user_tables + " AND c.relname ~ '[\\n\\r]')");
  m_usable = r.text(0, 0) == "t" ? 1 : 0;
  // A table pg_restore holds (its primary key being added) is not waited for: it is counted later.
  m_db->exec("SET lock_timeout = '50ms'");
  if (m_usable == 0) m_db.reset();
  return m_usable == 1;
}

void RestoreCounts::count_finished() try {
  if (m_pending.empty() || !usable()) return m_pending.clear();
  std::string names;
  for (const auto& tag : m_pending) names += (names.empty() ? "" : ", ") + db::quote_literal(tag);
  m_pending.clear();
  // The tables of these names, each with how many user tables share its name, and its size.
  auto r =
      m_db->exec(std::string("SELECT nspname, relname FROM (SELECT *, count(*) OVER (PARTITION BY relname) AS "
                             "same FROM (") +
                 k_user_tables + " AND c.relname IN (" + names +
                 ")) u) t WHERE same = 1 AND pg_catalog.pg_relation_size(oid) >= " + std::to_string(k_early_min_bytes));
  for (int i = 0; i < r.rows(); ++i) {
    std::string key = db::table_key(r.text(i, 0), r.text(i, 1));
    if (!m_expected.count(key) || m_counted.count(key)) continue;
    try {
      auto one = db::row_counts(*m_db, {db::quote_qualified(r.text(i, 0), r.text(i, 1))});
      if (one.size() == 1 && one.begin()->first == key) m_counted[key] = one.begin()->second;
    } catch (const Error&) {
      if (!m_db->alive()) throw;  // else: held by pg_restore (lock_timeout), counted after it
    }
  }
} catch (const Error&) {
  m_db.reset();
  m_usable = 0;  // the rest after pg_restore
}

std::map<std::string, long long> RestoreCounts::counts(db::Connection& scratch_db) {
  m_db.reset();
  std::map<std::string, long long> out = m_counted;
  std::vector<std::string> rest;
  auto r = scratch_db.exec(k_user_tables);
  for (int i = 0; i < r.rows(); ++i) {
    std::string key = db::table_key(r.text(i, 0), r.text(i, 1));
    if (m_expected.count(key) && !out.count(key)) rest.push_back(db::quote_qualified(r.text(i, 0), r.text(i, 1)));
  }
  if (!rest.empty())
    for (const auto& [key, n] : db::row_counts(scratch_db, rest)) out[key] = n;
  return out;
}

}  // namespace ferry::steps
