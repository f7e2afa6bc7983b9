// A cheap question before the fingerprint's expensive one: has any catalog row changed?
//
// The fingerprint (introspect.hpp) is a function of the description's own SQL text (another
// ferry version describes differently), the database's catalogs, the role names, the database's
// settings (keyed by its oid: a TEMPLATE copy has the same catalog rows but not the
// settings), who asks (current_user, the schemas its search path resolves to, which depend on
// role membership), a few output settings of the session (lc_messages too: pg_describe_object
// is translated) and the server's version. The stamp hashes exactly those
// inputs: every row version (ctid and xmin) of every catalog of the database except the
// statistics, large-object data and user mappings (no fingerprint line reads them), the roles'
// names, the settings. Its parts are put in a JSON array before hashing, so two different
// lists never give the same text.
//
// Why an equal stamp means an equal fingerprint: a row version is never rewritten in place
// under the same (ctid, xmin) while its transaction id is not reused (PostgreSQL 9.4 and later
// keep xmin when they freeze). Ids of a transaction lost in a crash (synchronous_commit = off)
// are reused, so a pair is written with synchronous_commit = local: if it survives a crash,
// every catalog change it saw survived too. The stamp and the description are taken in one
// statement (one snapshot), and the pair is written only if the stamp is still the same then.
// Any change (a temporary table, ALTER ... SET STATISTICS, VACUUM FULL of a catalog) gives a
// new stamp: a stamp costs a miss, never a wrong answer. What is left: a 64-bit collision of
// the per-catalog hash sums; a catalog row deleted and another put at its very place by a
// transaction whose id is the deleted row's modulo 2^32 (after 4 billion transactions), every
// other row unchanged; what the server prints differently without a catalog change (a new
// tzdata for a timestamptz default, a glibc or ICU update reordering ACL items, a new build of an
// extension's output function); and anyone who may write ferry.fingerprints (as anyone who may write the ledger can
// rewrite its history). On any error (a catalog this role may not read, a statement_timeout between the description's
// cost and the description's with the stamp) the fingerprint is computed alone; not when a signal cancelled the
// statement (ferry is stopping).
//
// `ferry status` keeps (stamp, fingerprint) pairs in ferry.fingerprints (Ledger), in the
// database they describe: a physical copy of a cluster (a promoted replica, a base backup)
// shares transaction ids with its source but not its later pairs.
#pragma once
#include <optional>
#include <string>

#include "db/pg.hpp"

namespace ferry::db {

struct CatalogStamp {
  std::optional<std::string> stamp;  // nullopt: this server's catalogs are not the ones ferry knows
  bool cache_exists = false;         // ferry.fingerprints exists
};
CatalogStamp catalog_stamp(Connection& conn);

// The catalogs whose rows the stamp hashes on this server version, and the ones it leaves
// out (statistics, large-object data, subscription state: never read by the fingerprint).
// Together they must be every per-database catalog, or catalog_stamp() gives no stamp.
const char* const* stamped_catalogs(int server_version);
const char* const* unstamped_catalogs();

// The stamp's one scalar query on this server version (for tests: every name in it is
// qualified, see migrate/search_path_names.hpp).
std::string catalog_stamp_query(int server_version);

// The schema fingerprint, taken from ferry.fingerprints when the catalogs have not changed
// since it was computed, else computed and remembered there (when the stamp did not move
// while it was computed, and this session may write; a read-only one just computes). Two
// statements when it was remembered (the stamp, the pair), four when it is computed.
std::string fingerprint_via_stamp(Connection& conn);

}  // namespace ferry::db
