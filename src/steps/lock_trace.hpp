// A lock trace (issue 9 item 3): a native migration run statement by statement, each followed by
// a read of the relation locks ferry's backend then holds, of the tables whose relfilenode
// changed (rewritten), and its duration; stored as JSON in ferry.lock_traces beside the ledger
// row, read back by `ferry history --locks` and `ferry plan`'s forecast (run/forecast.*).
#pragma once
#include <map>
#include <set>
#include <string>
#include <vector>

#include "config/model.hpp"
#include "db/lock_trace.hpp"
#include "migrate/sql_parser.hpp"

namespace ferry::steps {

struct TracedLock {
  std::string mode;      // "ACCESS EXCLUSIVE"
  std::string relation;  // "orders"
};

struct TracedStatement {
  std::string file;  // "migrations/0002_x/up.sql"
  int line = 0;
  std::vector<TracedLock> locks;       // held after the statement (a transaction keeps earlier ones)
  std::vector<std::string> rewritten;  // tables whose relfilenode changed
  double ms = 0;
};

struct TableSize {
  double rows = -1;  // reltuples before the migration (-1: never analysed)
  long long bytes = 0;
};

struct LockTrace {
  std::string environment;  // where it was traced
  bool transaction = true;  // false: a no-transaction migration (locks end with each statement)
  std::vector<TracedStatement> statements;
  // held when the migration began (earlier migrations of the same transaction): left out of its
  // statements' locks, which a statement cannot take twice
  std::vector<TracedLock> held_before;
  std::map<std::string, TableSize> tables;  // the traced tables' sizes before the migration
};

std::string trace_json(const LockTrace& t);
LockTrace parse_trace(const std::string& json);  // Error(Command) when it is not a trace
// "AccessExclusiveLock" -> "ACCESS EXCLUSIVE"
std::string lock_mode_name(const std::string& pg_mode);

// Whether the migrate step traces on `env`: `lock_trace: always|never`, or `auto`: on
// environments that are not protected (production keeps its one-round-trip batches).
bool tracing(const config::StepSpec& spec, const config::Environment& env);

// Runs statements one by one and records what each held and rewrote.
class Tracer {
 public:
  // `at_start`: the user tables before the step's first migration (the sizes recorded: a rewrite
  // earlier in the step leaves pg_class.reltuples unknown).
  Tracer(db::Connection& db, std::string environment, bool transaction,
         const std::map<long long, db::TableState>& at_start);
  void exec(const migrate::Statement& st, const std::string& file);
  const LockTrace& trace() const { return m_trace; }

 private:
  void note_size(long long oid);

  db::Connection& m_db;
  LockTrace m_trace;
  const std::map<long long, db::TableState>& m_start;
  std::map<long long, db::TableState> m_before;             // user tables before the migration
  std::set<std::pair<long long, std::string>> m_inherited;  // held before it (an earlier migration's)
  std::map<long long, db::TableState> m_last;               // after the previous statement
};

}  // namespace ferry::steps
