// The swap restore's exact row counts (restore_swap.cpp's proof) and its progress, both read from
// the copy while pg_restore -j still runs, by polling it (at most once a second) on a connection
// of its own. A table is counted early once an index of it is committed: pg_restore -j makes
// every post-data item of a table (indexes, constraints) wait for its TABLE DATA item (its
// COPY committed), and no later item of a dump adds or removes rows. Only tables of at least
// k_early_min_bytes (relpages, set by that index build: read without a lock) are counted early,
// with a short lock_timeout (a table pg_restore holds, e.g. while adding its primary key, is
// tried again at the next poll); the others after pg_restore in one statement. The counts are
// exact (count(*)), never estimates, and compared with the sidecar.
#pragma once
#include <map>
#include <memory>
#include <string>

#include "config/model.hpp"
#include "db/pg.hpp"

namespace ferry::steps {

// What the copy holds so far (-1: not known).
struct CopyProgress {
  long long bytes = -1;      // pg_database_size
  long long relations = -1;  // tables, indexes, sequences, views of the user's schemas
};

class RestoreCounts {
 public:
  RestoreCounts(const config::Environment& env, std::string scratch, const std::map<std::string, long long>& expected);
  ~RestoreCounts();
  // The copy's size and relations, and the early counts of the tables that have become ready.
  // Never throws: a failure leaves the progress unknown and the tables for counts().
  CopyProgress poll();
  // Every table of the sidecar: the early counts, and the rest counted now on `scratch_db`. A
  // table of the sidecar missing here is missing from the result (the proof then fails); other
  // tables are the fingerprint's concern.
  std::map<std::string, long long> counts(db::Connection& scratch_db);
  int counted_early() const { return static_cast<int>(m_counted.size()); }

 private:
  bool connect();
  void count_ready();

  const config::Environment& m_env;
  std::string m_scratch;
  const std::map<std::string, long long>& m_expected;
  std::unique_ptr<db::Connection> m_db;
  bool m_count_early = false;  // a role that row-level security does not filter
  bool m_failed = false;       // the connection failed once: no more polling
  std::map<std::string, long long> m_counted;
};

// The relations of the user's schemas, counted as CopyProgress counts them ("SELECT count(*)").
extern const char* const k_count_relations_sql;

}  // namespace ferry::steps
