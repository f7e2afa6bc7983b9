// The swap restore's exact row counts (restore_swap.cpp's proof), taken while pg_restore -j still
// runs: a table is counted, on a connection of its own, once pg_restore has reported its TABLE
// DATA item finished (its COPY committed; no later item of a dump adds or removes a table's
// rows: indexes, constraints, triggers, grants). Only tables of at least k_early_min_bytes are
// counted early (looked up in one statement per progress tick, so that many small tables never
// hold up the reading of pg_restore's output); the others are counted after pg_restore in one
// statement. The counts are exact (count(*)), never estimates, and compared with the sidecar.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/model.hpp"
#include "db/pg.hpp"

namespace ferry::steps {

class RestoreCounts {
 public:
  RestoreCounts(const config::Environment& env, std::string scratch, const std::map<std::string, long long>& expected);
  ~RestoreCounts();
  // pg_restore -v said "finished item N TABLE DATA <tag>": noted, counted at the next tick.
  void data_finished(const std::string& tag) { m_pending.push_back(tag); }
  // Counts the noted tables that are the only user table of their name and large enough. Any
  // failure leaves them for counts().
  void count_finished();
  // Every table of the sidecar: the early counts, and the rest counted now on `scratch_db`. A
  // table of the sidecar missing here is missing from the result (the proof then fails); other
  // tables are the fingerprint's concern.
  std::map<std::string, long long> counts(db::Connection& scratch_db);
  int counted_early() const { return static_cast<int>(m_counted.size()); }

 private:
  bool usable();

  const config::Environment& m_env;
  std::string m_scratch;
  const std::map<std::string, long long>& m_expected;
  std::unique_ptr<db::Connection> m_db;
  int m_usable = -1;  // -1 not known yet, 0 no (counted after pg_restore), 1 yes
  std::vector<std::string> m_pending;
  std::map<std::string, long long> m_counted;
};

}  // namespace ferry::steps
