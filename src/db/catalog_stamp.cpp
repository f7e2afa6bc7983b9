#include "db/catalog_stamp.hpp"

#include <algorithm>
#include <vector>

#include "core/text.hpp"
#include "db/introspect.hpp"
#include "db/ledger.hpp"

namespace ferry::db {

namespace {
// Every per-database catalog of PostgreSQL 13 to 15 (pg_publication_namespace from 15 on).
constexpr const char* k_stamped[] = {
    "pg_aggregate", "pg_am", "pg_amop", "pg_amproc", "pg_attrdef", "pg_attribute", "pg_cast", "pg_class",
    "pg_collation", "pg_constraint", "pg_conversion", "pg_default_acl", "pg_depend", "pg_description", "pg_enum",
    "pg_event_trigger", "pg_extension", "pg_foreign_data_wrapper", "pg_foreign_server", "pg_foreign_table",
    "pg_index", "pg_inherits", "pg_init_privs", "pg_language", "pg_largeobject_metadata", "pg_namespace",
    "pg_opclass", "pg_operator", "pg_opfamily", "pg_partitioned_table", "pg_policy", "pg_proc", "pg_publication",
    "pg_publication_rel", "pg_range", "pg_rewrite", "pg_seclabel", "pg_sequence", "pg_statistic_ext",
    "pg_transform", "pg_trigger", "pg_ts_config", "pg_ts_config_map", "pg_ts_dict", "pg_ts_parser",
    "pg_ts_template", "pg_type", nullptr};
constexpr const char* k_stamped_15[] = {"pg_publication_namespace", nullptr};
// Written by ANALYZE, large-object writes and logical replication, or (pg_user_mapping) readable
// by superusers only; read by no fingerprint line.
constexpr const char* k_unstamped[] = {"pg_largeobject", "pg_statistic", "pg_statistic_ext_data",
                                       "pg_subscription_rel", "pg_user_mapping", nullptr};

// The session settings that change how the description prints a value or a name.
// (lc_messages: pg_describe_object is translated.)
constexpr const char* k_settings[] = {"server_version_num", "search_path", "DateStyle", "IntervalStyle",
                                      "TimeZone", "extra_float_digits", "quote_all_identifiers",
                                      "standard_conforming_strings", "bytea_output", "lc_monetary",
                                      "lc_numeric", "lc_messages", "lc_time", "xmloption", nullptr};

std::vector<std::string> names(int server_version) {
  std::vector<std::string> out;
  for (auto p = stamped_catalogs(server_version); *p; ++p) out.emplace_back(*p);
  return out;
}

// The stamp as one scalar query (NULL when the server has catalogs ferry does not know). Its
// parts go into a JSON array before they are hashed: no two different lists give the same text.
std::string stamp_query(int server_version) {
  // A row version: its place (ctid) and its transaction (xmin), hashed to 64 bits; per catalog
  // the number of rows and the exact sum of their hashes.
  const std::string row_hash =
      server_version >= 140000
          ? "pg_catalog.hashtidextended(ctid, xmin::pg_catalog.text::pg_catalog.int8)"
          : "pg_catalog.hashtextextended(ctid::pg_catalog.text OPERATOR(pg_catalog.||) ':' OPERATOR(pg_catalog.||) "
            "xmin::pg_catalog.text, 0)";
  auto stamped = names(server_version);
  auto all = stamped;
  for (auto p = k_unstamped; *p; ++p) all.emplace_back(*p);
  std::sort(all.begin(), all.end());
  std::string known;
  for (const auto& n : all) known += (known.empty() ? "'" : ",'") + n + "'";
  // Who is asking and where names resolve: `$user` in search_path, and a schema on it counts
  // only where the role may use it (role membership, a shared catalog the rows do not cover).
  // The description's own text: another ferry's description never answers for this one's.
  // The database's oid: a copy made from it (CREATE DATABASE ... TEMPLATE) has the same catalog
  // rows but not its settings (pg_db_role_setting, keyed by that oid), and may take its name.
  std::string session = quote_literal(sha256_hex(fingerprint_query())) +
                        ", pg_catalog.pg_client_encoding(), pg_catalog.current_database(), (SELECT oid FROM "
                        "pg_catalog.pg_database WHERE datname OPERATOR(pg_catalog.=) pg_catalog.current_database()), "
                        "current_user, session_user, pg_catalog.current_schemas(true)";
  for (auto s = k_settings; *s; ++s) session += std::string(", pg_catalog.current_setting('") + *s + "')";
  std::string rows;
  for (const auto& n : stamped)
    rows += std::string(rows.empty() ? "" : ", ") +
            "(SELECT pg_catalog.json_build_array(pg_catalog.count(*), coalesce(pg_catalog.sum(" + row_hash +
            "), 0)) FROM pg_catalog." + n + ")";
  std::string shared =
      "(SELECT pg_catalog.json_agg(pg_catalog.json_build_array(oid, rolname) ORDER BY oid) FROM pg_catalog.pg_roles), "
      "(SELECT pg_catalog.json_agg(pg_catalog.json_build_array(setdatabase, setrole, setconfig) ORDER BY setdatabase, "
      "setrole) FROM pg_catalog.pg_db_role_setting)";
  return "SELECT CASE WHEN (SELECT pg_catalog.array_agg(relname::pg_catalog.text ORDER BY relname COLLATE "
         "pg_catalog.\"C\") FROM pg_catalog.pg_class WHERE relnamespace OPERATOR(pg_catalog.=) "
         "'pg_catalog'::pg_catalog.regnamespace AND relkind OPERATOR(pg_catalog.=) 'r' AND NOT relisshared) "
         "OPERATOR(pg_catalog.=) ARRAY[" +
         known + "]::pg_catalog.text[] THEN pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to("
                 "pg_catalog.json_build_array(pg_catalog.json_build_array(" +
         session + "), pg_catalog.json_build_array(" + rows + "), " + shared +
         ")::pg_catalog.text, 'UTF8')), 'hex') END";
}
}  // namespace

const char* const* stamped_catalogs(int server_version) {
  static const std::vector<const char*> with_15 = [] {
    std::vector<const char*> v(std::begin(k_stamped), std::end(k_stamped) - 1);
    v.insert(v.end(), std::begin(k_stamped_15), std::end(k_stamped_15));  // ends with nullptr
    return v;
  }();
  return server_version >= 150000 ? with_15.data() : k_stamped;
}

const char* const* unstamped_catalogs() { return k_unstamped; }

std::string catalog_stamp_query(int server_version) { return stamp_query(server_version); }

namespace {
CatalogStamp stamp_of(Connection& conn, const std::string& stamp) {
  auto r = conn.exec("SELECT (" + stamp + "), pg_catalog.to_regclass('ferry.fingerprints') IS NOT NULL");
  return {r.opt(0, 0), r.boolean(0, 1)};
}

// The remembered fingerprint, else the one computed and remembered; nullopt when this server
// gives no stamp or has no ferry.fingerprints. Throws DbError.
std::optional<std::string> via_stamp(Connection& conn) {
  const std::string stamp = stamp_query(conn.server_version());
  auto before = stamp_of(conn, stamp);
  if (!before.stamp || !before.cache_exists) return std::nullopt;
  Ledger ledger(conn);
  if (auto fp = ledger.fingerprint_for_stamp(*before.stamp)) return fp;
  // The stamp and the description in one statement, so from one snapshot: a table made and
  // dropped again between two statements cannot be described under a stamp that lacks it. The
  // pg_get_*def functions read the catalogs as they are at each call, so the pair is kept only
  // when the stamp has not moved by the time it is written (remember_fingerprint).
  auto r = conn.exec("SELECT (" + stamp + "), (" + fingerprint_query() + ")");
  std::string fp = r.text(0, 1);
  if (auto at = r.opt(0, 0)) ledger.remember_fingerprint(*at, fp, stamp);
  return fp;
}
}  // namespace

CatalogStamp catalog_stamp(Connection& conn) { return stamp_of(conn, stamp_query(conn.server_version())); }

std::string fingerprint_via_stamp(Connection& conn) {
  // Anything the shortcut cannot do here (a catalog this role may not read, a server that does
  // not know a function, a statement_timeout that the description alone meets but not with the
  // stamp) costs the shortcut, never the answer: the description alone, as without it.
  try {
    if (auto fp = via_stamp(conn)) return *fp;
  } catch (const DbError&) {
    if (interrupted()) throw;  // cancelled by a signal: ferry is stopping, not falling back
    conn.rollback_if_open();
  }
  return schema_fingerprint(conn);
}

}  // namespace ferry::db
