// The swap restore's exact row counts (restore_swap.cpp's proof), taken while pg_restore -j still
// runs: a table is counted, on a connection of its own, as soon as pg_restore reports its TABLE
// DATA item finished (its COPY committed; no later item of a dump adds or removes a table's
// rows: indexes, constraints, triggers, grants). The others are counted after pg_restore. The
// counts are exact (count(*)), never estimates, and compared with the backup's sidecar.
#pragma once
#include <map>
#include <memory>
#include <string>

#include "config/model.hpp"
#include "db/pg.hpp"

namespace ferry::steps {

class RestoreCounts {
 public:
  RestoreCounts(const config::Environment& env, std::string scratch, const std::map<std::string, long long>& expected);
  ~RestoreCounts();
  // pg_restore -v said "finished item N TABLE DATA <tag>": counts the table named `tag` when it
  // is the only user table of that name. Any failure leaves it for counts().
  void data_finished(const std::string& tag);
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
  std::map<std::string, long long> m_counted;
};

}  // namespace ferry::steps
