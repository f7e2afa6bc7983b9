#include "steps/restore_counts.hpp"

#include "db/introspect.hpp"
#include "steps/recovery.hpp"

namespace ferry::steps {

namespace {

// The user tables (schema, name, oid).
const char* k_user_tables =
    "SELECT n.nspname, c.relname, c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid "
    "OPERATOR(pg_catalog.=) c.relnamespace WHERE c.relkind OPERATOR(pg_catalog.=) 'r' AND n.nspname "
    "OPERATOR(pg_catalog.<>) 'information_schema' AND n.nspname OPERATOR(pg_catalog.!~~) 'pg\\_%'";

constexpr long long k_early_min_bytes = 8 << 20;  // smaller tables: counted after pg_restore, in one statement
}  // namespace

const char* const k_count_relations_sql =
    "SELECT pg_catalog.count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid "
    "OPERATOR(pg_catalog.=) c.relnamespace WHERE c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p', 'i', 'I', "
    "'S', 'v', 'm']::pg_catalog.\"char\"[]) AND n.nspname OPERATOR(pg_catalog.<>) 'information_schema' AND "
    "n.nspname OPERATOR(pg_catalog.!~~) 'pg\\_%' AND n.nspname OPERATOR(pg_catalog.<>) 'ferry'";

RestoreCounts::RestoreCounts(const config::Environment& env, std::string scratch,
                             const std::map<std::string, long long>& expected)
    : m_env(env), m_scratch(std::move(scratch)), m_expected(expected) {}

RestoreCounts::~RestoreCounts() = default;

// Counting early needs a role that row-level security does not filter (policies are created
// after the data: a count before them could differ from the sidecar's).
bool RestoreCounts::connect() {
  if (m_db) return true;
  if (m_failed) return false;
  m_failed = true;  // until connected
  m_db = std::make_unique<db::Connection>(connect_params(m_env, m_scratch));
  auto r = m_db->exec(
      "SELECT rolsuper OR rolbypassrls FROM pg_catalog.pg_roles WHERE rolname "
      "OPERATOR(pg_catalog.=) current_user");
  m_count_early = r.text(0, 0) == "t";
  // A table pg_restore holds (its primary key being added) is not waited for: tried again later.
  m_db->exec("SET lock_timeout = '50ms'");
  m_failed = false;
  return true;
}

CopyProgress RestoreCounts::poll() try {
  if (!connect()) return {};
  auto r = m_db->exec(std::string("SELECT pg_catalog.pg_database_size(pg_catalog.current_database()), (") +
                      k_count_relations_sql + ")");
  CopyProgress p{std::stoll(r.text(0, 0)), std::stoll(r.text(0, 1))};
  if (m_count_early) count_ready();
  return p;
} catch (const std::exception&) {
  m_db.reset();
  m_failed = true;  // the rest counted after pg_restore
  return {};
}

// The sidecar's tables not counted yet that have a committed index (their data is loaded) and
// are large enough: each counted now.
void RestoreCounts::count_ready() {
  auto r =
      m_db->exec(std::string(k_user_tables) +
                 " AND (c.relpages::bigint OPERATOR(pg_catalog.*) "
                 "pg_catalog.current_setting('block_size')::bigint) OPERATOR(pg_catalog.>=) " +
                 std::to_string(k_early_min_bytes) +
                 " AND EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid OPERATOR(pg_catalog.=) c.oid)");
  for (int i = 0; i < r.rows(); ++i) {
    std::string key = db::table_key(r.text(i, 0), r.text(i, 1));
    if (!m_expected.count(key) || m_counted.count(key)) continue;
    try {
      auto one = db::row_counts(*m_db, {db::quote_qualified(r.text(i, 0), r.text(i, 1))});
      if (one.size() == 1 && one.begin()->first == key) m_counted[key] = one.begin()->second;
    } catch (const Error&) {
      if (!m_db->alive()) throw;  // else: held by pg_restore (lock_timeout), tried at the next poll
    }
  }
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
