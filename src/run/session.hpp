// ferry's session on one environment's database for one run (a playbook stage, `ferry
// rollback`, `ferry backup`): connect (retrying while the server starts, when asked), take the
// run's lock or refuse, ferry's schema, runs a killed ferry left reported; record() writes the
// run's row in ferry.runs. The lock is released when the session ends.
#pragma once
#include <memory>
#include <string>

#include "config/model.hpp"
#include "core/duration.hpp"
#include "db/ledger.hpp"
#include "report/reporter.hpp"
#include "run/early_connect.hpp"
#include "run/target.hpp"

namespace ferry::run {

struct SessionWaits {
  Millis ready{0};  // --wait-ready
  Millis lock{0};   // --wait-lock
};

class Session {
 public:
  // Throws Error(Refused) when another run holds the lock (after waiting `waits.lock`), and
  // what connecting throws when the database cannot be reached.
  // `opened`: a connection attempt already made (run/early_connect.*): its connection is used,
  // its error counts as the first attempt; when empty, Session connects.
  Session(const config::Environment& env, steps::Transports& transports, const std::string& run_id, SessionWaits waits,
          report::Reporter& rep, OpenedConnection opened = {});
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  db::Connection& db() { return *m_link.conn; }
  db::Ledger& ledger() { return *m_ledger; }
  // The run's row in ferry.runs (outcome 'running' until finish_run).
  void record(const std::string& what, const std::string& version_before, const std::string& command_line);

 private:
  const config::Environment& m_env;
  std::string m_run_id;
  DbLink m_link;
  std::unique_ptr<db::Ledger> m_ledger;
};

// What a human should do about a lock another run holds.
extern const char* const k_lock_held_hint;

}  // namespace ferry::run
