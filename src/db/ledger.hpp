// ferry's own tables in the target database (schema `ferry`): the migration ledger, the run
// records and the history of applies and reverts; and the run's advisory lock.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "db/pg.hpp"

namespace ferry::db {

struct AppliedMigration {
  std::string version;
  std::string name;
  std::string checksum;
  std::optional<std::string> down_sql;  // nullopt: irreversible
  std::string applied_at;
  long long duration_ms = 0;
  std::string run_id;
  bool destroys_data = false;  // recorded so a rollback without files still knows
  bool down_restores_data = false;
};

struct RunRecord {
  std::string id;
  std::string playbook;
  std::string environment;
  std::string operator_name;
  std::string host;
  std::string started;
  std::string finished;
  std::string outcome;  // running | succeeded | failed | rolled_back | needs_attention
  std::string version_before;
  std::string version_after;
  std::string backup_id;
  std::string error;
  std::string command;
};

struct HistoryEvent {
  std::string at;
  std::string version;
  std::string name;
  std::string action;  // applied | reverted | restored | applying | failed | resolved
  std::string run_id;
};

// A lint finding the migration accepted (`-- ferry:accept-risk CODE reason`), recorded when the
// migration was applied (ferry.accepted_risks).
struct AcceptedRisk {
  std::string run_id;
  std::string version;
  std::string code;
  std::string reason;
  std::string location;  // "migrations/0002_x/up.sql:3:1"
  std::string at;        // when recorded (read back only)
};

struct LockHolder {
  int pid = 0;
  std::optional<RunRecord> run;  // the ferry run holding it, when known
  std::string describe() const;
};

class Ledger {
 public:
  explicit Ledger(Connection& conn) : m_conn(conn) {}

  // Creates schema ferry and its tables when missing (call while holding the lock, outside a
  // transaction). A ledger made before ferry.fingerprints gets it when the role may create it
  // there; a role that may not still runs (status then computes every fingerprint).
  void ensure_schema();
  // Asked of the server once per Ledger: a yes is kept (nothing ferry runs drops its schema; a
  // restore brings it back with the backup's rows), a no is asked again.
  bool schema_exists();

  // ferry.fingerprints (db/catalog_stamp.*): the fingerprint computed when the catalogs had
  // this stamp, and remembering one (the newest 20 pairs are kept) if `stamp_query` (a scalar
  // query) still gives `stamp`. remember_fingerprint returns false when this session may not
  // write (a read-only role, a standby), true when it wrote or the stamp had moved.
  std::optional<std::string> fingerprint_for_stamp(const std::string& stamp);
  bool remember_fingerprint(const std::string& stamp, const std::string& fingerprint, const std::string& stamp_query);

  // Session-level advisory lock for the whole run. try_lock first makes this session immune
  // to idle timeouts (idle_session_timeout, idle_in_transaction_session_timeout set on the
  // server, database or role) and turns on TCP keepalives: while a long step runs elsewhere
  // the session idles, and losing it would release the lock.
  bool try_lock();
  // True while this session still holds the run's lock; false when the lock or the session
  // is gone (then another ferry may already be at work: stop, change nothing more).
  bool lock_held();
  void unlock();
  // Runs recorded on this database after `run_id` started: after a lost session, another ferry
  // may have held the lock in between (then this run must not undo anything).
  long long runs_started_after(const std::string& run_id);
  std::optional<LockHolder> lock_holder();  // who holds it now, if anyone

  std::vector<AppliedMigration> applied();  // ordered by version, oldest first
  std::string current_version();            // newest applied, "" when none
  // Time marks, written and read here only: seconds since the epoch in a setting (a migration
  // that changes DateStyle cannot change how they read back). start_mark: just before a
  // migration's SQL (local to the transaction or not); batch_mark(k): before migration k of a
  // batch, and after its last.
  static std::string start_mark(bool local);
  static std::string batch_mark(size_t k);
  // Records an applied migration (and its history row) as one SQL statement, to send in one
  // round trip with the migration itself. Its duration is measured from start_mark.
  std::string record_applied_sql(const AppliedMigration& m);
  // Records the migrations of one batch of a `transaction: all` run (and their history rows, in
  // the same order) as one SQL statement, sent last in the batch: one statement for the batch
  // costs the server about half of one per migration (bench/README.md, W2). Migration k's
  // duration is the time between batch_mark(k) and batch_mark(k + 1).
  std::string record_applied_batch_sql(const std::vector<AppliedMigration>& ms);
  void record_reverted(const std::string& version, const std::string& run_id);
  // A history row for a version the ledger does not hold (an Alembic revision applied or reverted).
  void record_event(const std::string& version, const std::string& name, const std::string& action,
                    const std::string& run_id);
  // What a gate reads of a required environment: each applied migration's checksum and the
  // outcome of the run that applied it ("unknown" when that run is not recorded).
  struct AppliedWithOutcome {
    std::string version;
    std::string checksum;
    std::string outcome;
  };
  std::vector<AppliedWithOutcome> applied_with_outcome();

  // A no-transaction migration is marked 'applying' in ferry.history (committed) before its
  // first statement; its 'applied' row supersedes the mark. A mark that stays newest means the
  // migration was cut off (ferry killed, connection lost) with part of it applied and no
  // ledger row: a human must look.
  void mark_applying(const AppliedMigration& m);
  // Versions whose newest history event is 'applying' (event.run_id: the run that started it).
  std::vector<HistoryEvent> interrupted_applies();
  // After a proven rollback: this run's marks (or, after a proven restore, every run's) are
  // settled with a 'failed' event (not applied, nothing of it left).
  void settle_applying(const std::string& run_id, bool every_run = false);

  void insert_run(const RunRecord& r);
  // Runs left 'running' by a ferry that died: marked 'abandoned' and returned, so the operator
  // hears of them. A run whose backend session is still alive is never touched.
  std::vector<RunRecord> abandon_stale_runs();
  void finish_run(const std::string& id, const std::string& outcome, const std::string& version_after,
                  const std::string& error, const std::string& backup_id = "");
  std::vector<RunRecord> runs(int limit);
  std::vector<HistoryEvent> history(int limit);
  // ferry.accepted_risks (created on first use, also in databases whose schema predates it).
  void record_accepted_risks(const std::vector<AcceptedRisk>& risks);
  std::vector<AcceptedRisk> accepted_risks(int limit);  // newest first; none when the table is missing

  // Day-one adoption and repair (ferry baseline / ferry repair). ferry.history and ferry.runs
  // gain a `note` column (added when missing) for what a human decided and why.
  void ensure_notes();
  void set_run_note(const std::string& run_id, const std::string& note);
  // A migration recorded as applied without running it: its ledger row and a 'baselined'
  // history row carrying `note`.
  void record_baselined(const AppliedMigration& m, const std::string& note);
  // An Alembic revision recorded as baselined (alembic_version itself is set by `alembic stamp`).
  void record_baselined_revision(const std::string& rev, const std::string& message, const std::string& run_id,
                                 const std::string& note);
  // Accepts the file's checksum for `version`: updates ferry.migrations and writes a
  // 'repaired' history row whose note holds the old and new checksum and the reason.
  void accept_checksum(const std::string& version, const std::string& checksum, const std::string& run_id,
                       const std::string& note);
  // Runs left 'running', with the host and backend pid that ran them and whether that backend
  // session is still alive (in pg_stat_activity, started before the run).
  struct RunningRun {
    RunRecord run;
    int backend_pid = 0;
    bool session_alive = false;
  };
  std::vector<RunningRun> running_runs();
  // Marks one 'running' run abandoned with `why`; false when it was no longer running.
  bool mark_abandoned(const std::string& run_id, const std::string& why);

  // What a rollback and a restore read and write (ledger_rollback.cpp; runs_since: ledger.cpp).
  // The SQL, sent inside the restore's own transaction after the dump, that sets
  // ferry.migrations back to `restored` (the backup's ledger), with 'reverted' and 'restored'
  // history rows for `run_id`. Needs no session: the text goes into the restore's psql stream.
  static std::string restore_fixup_sql(const std::string& run_id, const std::vector<AppliedMigration>& restored);
  // Copies the rows of ferry's tables (and its sequences' values) into the same tables on `to`
  // (a database swapped in by a restore); tables `to` lacks are skipped.
  void copy_to(Connection& to);
  // When `version` was last applied (UTC, seconds), "" when never or without ferry's schema.
  std::string applied_at(const std::string& version);
  // When run `run_id` started (UTC, seconds); nullopt when there is no such run.
  std::optional<std::string> run_started(const std::string& run_id);
  // Runs still active or finished after `since` (a timestamptz), oldest first: id, playbook,
  // operator, started, outcome and the versions; none without ferry's schema.
  std::vector<RunRecord> runs_since(const std::string& since);
  // The newest 'applied' event ("VERSION (NAME) applied at TIME") and whether it was before `time`.
  struct NewestChange {
    std::string text;
    bool before = false;
  };
  std::optional<NewestChange> newest_change(const std::string& time);

 private:
  Connection& m_conn;
  bool m_schema_seen = false;        // schema_exists() answered yes
  bool m_schema_created = false;     // ensure_schema() made it in this session
  bool m_fingerprints_seen = false;  // ferry.fingerprints exists (asked with schema_exists())
};

}  // namespace ferry::db
