// What "proven as before" means: the proof after a rollback sees what an incomplete down SQL
// leaves behind (triggers, grants, policies, comments, sequences, function attributes, enum
// labels, database settings...), is not fooled by internal numbers (a restored table whose
// history dropped a column), works with names that contain dots, quotes and spaces, and tells
// the truth when the connection to PostgreSQL is lost. Real PostgreSQL, the real ferry binary.
#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "support/fixtures.hpp"

namespace fs = std::filesystem;
using namespace ferry::test;
using nlohmann::json;

namespace {

const char* k_base_schema =
    "DO $$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ferry_reader') THEN "
    "CREATE ROLE ferry_reader; END IF; END$$;"
    "CREATE TYPE mood AS ENUM ('sad', 'ok');"
    "CREATE TABLE tasks (id bigserial PRIMARY KEY, title text NOT NULL, m mood);"
    "INSERT INTO tasks (title) SELECT 'task ' || g FROM generate_series(1, 500) g;"
    "CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;";

class Proof : public ::testing::Test {
 protected:
  static PgCluster& pg() {
    static PgCluster cluster;
    return cluster;
  }
  void SetUp() override {
    reset_db();
    backups = temp_dir("ferry-backups");
    project.env("dev", pg(), "app", "backup:\n  dir: " + backups + "\n");
  }
  void TearDown() override { fs::remove_all(backups); }
  void reset_db() {
    pg().create_db("app");
    pg().exec("app", k_base_schema);
  }
  std::string q(const std::string& sql) { return pg().value("app", sql); }
  void playbook(const std::string& steps, const std::string& extra = "") {
    project.write("playbooks/promote.yaml", "stages: [dev]\nsteps:\n" + steps + extra);
  }
  std::string fingerprint() {
    auto st = project.ferry({"status", "--env", "dev", "--json"});
    return json::parse(st.out)[0]["fingerprint"].get<std::string>();
  }

  Project project;
  std::string backups;
};

// A migration whose down SQL forgets to undo something, and a query that is 't' while the
// leftover is there.
struct Leftover {
  const char* name;
  const char* up;
  const char* down;
  const char* present;
};

const Leftover k_leftovers[] = {
    {"Trigger", "CREATE TRIGGER t BEFORE INSERT ON tasks FOR EACH ROW EXECUTE FUNCTION touch();", "SELECT 1;",
     "SELECT count(*) > 0 FROM pg_trigger WHERE tgname = 't'"},
    {"Grant", "GRANT SELECT ON tasks TO ferry_reader;", "SELECT 1;",
     "SELECT has_table_privilege('ferry_reader', 'tasks', 'SELECT')"},
    {"PolicyAndRowLevelSecurity",
     "ALTER TABLE tasks ENABLE ROW LEVEL SECURITY; CREATE POLICY own ON tasks USING (id > 0);",
     "DROP POLICY own ON tasks;", "SELECT relrowsecurity FROM pg_class WHERE relname = 'tasks'"},
    {"Comment", "COMMENT ON TABLE tasks IS 'what to do';", "SELECT 1;",
     "SELECT obj_description('tasks'::regclass, 'pg_class') IS NOT NULL"},
    {"SequenceOption", "ALTER SEQUENCE tasks_id_seq CACHE 20 MAXVALUE 1000000;", "SELECT 1;",
     "SELECT cache_size <> 1 FROM pg_sequences WHERE sequencename = 'tasks_id_seq'"},
    {"SequenceMovedBack", "-- ferry:down-restores-data\nSELECT setval('tasks_id_seq', 1);", "SELECT 1;",
     "SELECT last_value < 500 FROM pg_sequences WHERE sequencename = 'tasks_id_seq'"},
    {"FunctionAttribute", "ALTER FUNCTION touch() SECURITY DEFINER SET search_path = public;", "SELECT 1;",
     "SELECT prosecdef FROM pg_proc WHERE proname = 'touch'"},
    {"EnumLabel", "ALTER TYPE mood ADD VALUE 'happy';", "SELECT 1;",
     "SELECT count(*) > 0 FROM pg_enum WHERE enumlabel = 'happy'"},
    {"DatabaseSetting", "ALTER DATABASE app SET work_mem = '7MB';", "SELECT 1;",
     "SELECT count(*) > 0 FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase "
     "WHERE d.datname = 'app'"},
    {"TableOwner", "ALTER TABLE tasks OWNER TO ferry_reader;", "SELECT 1;",
     "SELECT pg_get_userbyid(relowner) <> 'postgres' FROM pg_class WHERE relname = 'tasks'"},
    {"Unlogged", "ALTER TABLE tasks SET UNLOGGED;", "SELECT 1;",
     "SELECT relpersistence = 'u' FROM pg_class WHERE relname = 'tasks'"},
    {"Reloptions", "ALTER TABLE tasks SET (fillfactor = 70);", "SELECT 1;",
     "SELECT reloptions IS NOT NULL FROM pg_class WHERE relname = 'tasks'"},
    {"FunctionGrant", "REVOKE EXECUTE ON FUNCTION touch() FROM PUBLIC;", "SELECT 1;",
     "SELECT NOT has_function_privilege('ferry_reader', 'touch()', 'EXECUTE')"},
};

class ProofLeftover : public Proof, public ::testing::WithParamInterface<Leftover> {};

TEST_P(ProofLeftover, AnIncompleteDownSqlIsNotProvenAndTheBackupIsRestored) {
  const auto& c = GetParam();
  project.migration("0001_leftover", c.up, c.down);
  project.migration("0002_fails", "SELECT 1/0;", "SELECT 1;");
  const std::string steps = "  - backup\n  - migrate: {transaction: each}\n";

  // rollback: down never restores: the leftover stays, and ferry says a human must act.
  playbook(steps, "rollback: down\n");
  auto r = project.ferry({"run", "promote"});
  EXPECT_EQ(r.code, 2) << r.all();
  EXPECT_TRUE(contains(r.all(), "NOT proven")) << r.all();
  EXPECT_EQ(q(c.present), "t");
  EXPECT_EQ(q("SELECT outcome FROM ferry.runs"), "needs_attention");

  // rollback: auto: the proof after down SQL fails, the backup is restored and proven.
  reset_db();
  std::string fp = fingerprint();
  playbook(steps);
  r = project.ferry({"run", "promote"});
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(contains(r.all(), "not proven after down SQL; restoring the backup instead")) << r.all();
  EXPECT_TRUE(contains(r.out, "row counts as before")) << r.out;
  EXPECT_EQ(q(c.present), "f");
  EXPECT_EQ(fingerprint(), fp);
  EXPECT_EQ(q("SELECT count(*) FROM tasks"), "500");
  EXPECT_EQ(q("SELECT outcome FROM ferry.runs"), "rolled_back");
}

INSTANTIATE_TEST_SUITE_P(Proof, ProofLeftover, ::testing::ValuesIn(k_leftovers),
                         [](const auto& info) { return std::string(info.param.name); });

TEST_F(Proof, ACompleteDownSqlIsProvenWithoutTheBackup) {
  // Rows inserted and deleted again move the sequence forward; a grant revoked, a comment
  // removed, a setting reset: all as before, no restore needed.
  project.migration("0001_complete",
                    "INSERT INTO tasks (title) VALUES ('more'), ('more'), ('more'), ('more'), "
                    "('more'), ('more'), ('more'), ('more'), ('more'), ('more'), ('more'), ('more'), ('more'), "
                    "('more'), ('more'), ('more'), ('more'), ('more'), ('more'), ('more');"
                    "GRANT SELECT ON tasks TO ferry_reader; COMMENT ON TABLE tasks IS 'x';"
                    "ALTER DATABASE app SET work_mem = '7MB';",
                    "DELETE FROM tasks WHERE title = 'more'; REVOKE SELECT ON tasks FROM ferry_reader;"
                    "COMMENT ON TABLE tasks IS NULL; ALTER DATABASE app RESET work_mem;");
  project.migration("0002_fails", "SELECT 1/0;", "SELECT 1;");
  playbook("  - backup\n  - migrate: {transaction: each}\n");
  auto r = project.ferry({"run", "promote"});
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(contains(r.out, "reverted 1 by down SQL")) << r.out;
  EXPECT_FALSE(contains(r.all(), "restoring the backup")) << r.out;
  EXPECT_TRUE(contains(r.out, "row counts as before")) << r.out;
  EXPECT_EQ(q("SELECT last_value > 500 FROM pg_sequences WHERE sequencename = 'tasks_id_seq'"), "t");
}

TEST_F(Proof, TheFailedProofSaysWhatDiffers) {
  project.migration("0001_trigger", "CREATE TRIGGER t BEFORE INSERT ON tasks FOR EACH ROW EXECUTE FUNCTION touch();",
                    "SELECT 1;");
  project.migration("0002_fails", "SELECT 1/0;", "SELECT 1;");
  playbook("  - migrate: {transaction: each}\n", "rollback: down\n");
  auto r = project.ferry({"run", "promote"});
  EXPECT_EQ(r.code, 2) << r.all();
  EXPECT_TRUE(contains(r.out, "new: trigger public.tasks CREATE TRIGGER t BEFORE INSERT ON public.tasks")) << r.out;
}

TEST_F(Proof, ATableWhoseHistoryDroppedAColumnIsProvenAfterARestore) {
  // attnum 4 is a dropped column: a restore recreates the table without the gap.
  pg().exec("app", "ALTER TABLE tasks ADD COLUMN junk int; ALTER TABLE tasks DROP COLUMN junk;");
  project.migration("0001_note", "ALTER TABLE tasks ADD COLUMN note text;", "ALTER TABLE tasks DROP COLUMN note;");
  playbook("  - backup\n  - migrate\n");
  auto r = project.ferry({"run", "promote"});
  ASSERT_EQ(r.code, 0) << r.all();
  r = project.ferry({"backup", "dev"});
  ASSERT_EQ(r.code, 0) << r.all();
  std::string fp = fingerprint();

  // rollback --backup: the restored table has no dropped column; it is as the backup says.
  r = project.ferry({"rollback", "dev", "--backup", "latest"});
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_TRUE(contains(r.out, "and row counts equal to backup")) << r.out;
  EXPECT_EQ(fingerprint(), fp);

  // rollback --to: the down SQL leaves a dropped column behind; still equal to the backup at 0001.
  project.migration("0002_more", "ALTER TABLE tasks ADD COLUMN more int;", "ALTER TABLE tasks DROP COLUMN more;");
  r = project.ferry({"run", "promote"});
  ASSERT_EQ(r.code, 0) << r.all();
  r = project.ferry({"rollback", "dev", "--to", "0001"});
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_TRUE(contains(r.out, "equal to backup")) << r.out;

  // Automatic rollback by restore.
  pg().exec("app", "ALTER TABLE tasks ADD COLUMN junk2 int; ALTER TABLE tasks DROP COLUMN junk2;");
  project.migration("0002_more", "ALTER TABLE tasks ADD COLUMN more int; SELECT 1/0;",
                    "ALTER TABLE tasks DROP COLUMN more;");
  playbook("  - backup\n  - migrate\n", "rollback: restore\n");
  r = project.ferry({"run", "promote"});
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(contains(r.out, "restored backup")) << r.out;
  EXPECT_TRUE(contains(r.out, "row counts as before")) << r.out;
  EXPECT_EQ(fingerprint(), fp);
}

TEST_F(Proof, NamesWithDotsQuotesAndSpacesRunBackUpAndRestore) {
  pg().exec("app",
            "CREATE SCHEMA \"my.schema\"; CREATE TABLE \"my.schema\".\"odd.name\" (id int PRIMARY KEY);"
            "INSERT INTO \"my.schema\".\"odd.name\" VALUES (1), (2), (3);"
            "CREATE TABLE \"we\"\"ird name\" (x int); INSERT INTO \"we\"\"ird name\" VALUES (1), (2);");
  std::string fp = fingerprint();
  project.migration("0001_note", "ALTER TABLE \"my.schema\".\"odd.name\" ADD COLUMN note text;",
                    "ALTER TABLE \"my.schema\".\"odd.name\" DROP COLUMN note;");
  playbook(
      "  - backup\n  - migrate\n  - verify:\n      columns:\n        - '\"my.schema\".\"odd.name\".note': text\n"
      "      row_counts: all\n");
  auto r = project.ferry({"run", "promote"});
  ASSERT_EQ(r.code, 0) << r.all();
  auto list = json::parse(project.ferry({"backups", "dev", "--json"}).out);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["row_counts"]["\"my.schema\".\"odd.name\""], 3) << list[0]["row_counts"].dump();
  EXPECT_EQ(list[0]["row_counts"]["public.\"we\"\"ird name\""], 2) << list[0]["row_counts"].dump();

  r = project.ferry({"rollback", "dev", "--backup", "latest"});
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_EQ(fingerprint(), fp);
  EXPECT_EQ(q("SELECT count(*) FROM information_schema.columns WHERE table_name = 'odd.name' AND column_name = "
              "'note'"),
            "0");
  EXPECT_EQ(q("SELECT count(*) FROM \"my.schema\".\"odd.name\""), "3");
  EXPECT_EQ(q("SELECT count(*) FROM \"we\"\"ird name\""), "2");
}

// Waits until `sql` (on database app) returns a non-empty first value; returns it.
std::string wait_for(PgCluster& pg, const std::string& sql) {
  for (int i = 0; i < 300; ++i) {
    std::string v = pg.value("app", sql);
    if (!v.empty()) return v;
    usleep(100000);
  }
  return "";
}

const char* k_ferry_sleeping =
    "SELECT pid FROM pg_stat_activity WHERE application_name = 'ferry' AND query LIKE '%pg_sleep(20)%' "
    "AND pid <> pg_backend_pid()";

TEST_F(Proof, ATerminatedConnectionDuringTransactionAllIsProvenAsBefore) {
  project.migration("0001_slow", "ALTER TABLE tasks ADD COLUMN x int; SELECT pg_sleep(20);",
                    "ALTER TABLE tasks DROP COLUMN x;");
  playbook("  - backup\n  - migrate: {transaction: all}\n");
  Background run({ferry_binary(), "-C", project.root(), "run", "promote"});
  std::string pid = wait_for(pg(), k_ferry_sleeping);
  ASSERT_FALSE(pid.empty());
  q("SELECT pg_terminate_backend(" + pid + ")");
  auto r = run.wait();
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(
      contains(r.out, "the connection was lost; the transaction was rolled back by PostgreSQL; proven as before"))
      << r.out;
  EXPECT_FALSE(contains(r.all(), "restoring the backup")) << r.out;
  EXPECT_EQ(q("SELECT count(*) FROM pg_attribute WHERE attrelid = 'tasks'::regclass AND attname = 'x'"), "0");
  EXPECT_EQ(q("SELECT outcome FROM ferry.runs"), "rolled_back");
}

TEST_F(Proof, APostgresRestartDuringTransactionAllIsProvenAsBefore) {
  project.migration("0001_slow", "ALTER TABLE tasks ADD COLUMN x int; SELECT pg_sleep(20);",
                    "ALTER TABLE tasks DROP COLUMN x;");
  playbook("  - backup\n  - migrate: {transaction: all}\n");
  Background run({ferry_binary(), "-C", project.root(), "run", "promote"});
  ASSERT_FALSE(wait_for(pg(), k_ferry_sleeping).empty());
  pg().restart();
  auto r = run.wait();
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(
      contains(r.out, "the connection was lost; the transaction was rolled back by PostgreSQL; proven as before"))
      << r.out;
  EXPECT_EQ(q("SELECT count(*) FROM pg_attribute WHERE attrelid = 'tasks'::regclass AND attname = 'x'"), "0");
  EXPECT_EQ(q("SELECT outcome FROM ferry.runs"), "rolled_back");
}

TEST_F(Proof, APostgresRestartDuringARestoreRestoresAgainAndIsProven) {
  std::string fp = fingerprint();
  project.migration("0001_fails", "CREATE TABLE t2 (x int); SELECT 1/0;", "DROP TABLE t2;");
  playbook("  - backup\n  - migrate\n", "rollback: restore\n");
  // A reader holds tasks: the restore's DROP SCHEMA waits for it, and the server restarts then.
  auto reader = pg().connect("app");
  reader->exec("BEGIN; LOCK TABLE tasks IN ACCESS SHARE MODE");
  Background run({ferry_binary(), "-C", project.root(), "run", "promote"});
  ASSERT_FALSE(
      wait_for(pg(), "SELECT pid FROM pg_stat_activity WHERE application_name = 'psql' AND wait_event_type = 'Lock'")
          .empty());
  pg().restart();
  auto r = run.wait();
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(contains(r.all(), "restoring again")) << r.all();
  EXPECT_TRUE(contains(r.out, "row counts as before")) << r.out;
  EXPECT_EQ(fingerprint(), fp);
  EXPECT_EQ(q("SELECT count(*) FROM tasks"), "500");
  EXPECT_EQ(q("SELECT outcome FROM ferry.runs"), "rolled_back");
}

TEST_F(Proof, ANoTransactionMigrationKilledBeforeItsLedgerRowNeedsAHuman) {
  ASSERT_EQ(project.ferry({"backup", "dev"}).code, 0);  // creates the ferry schema
  project.migration("0001_x", "-- ferry:no-transaction\nALTER TABLE tasks ADD COLUMN x int;",
                    "ALTER TABLE tasks DROP COLUMN x;");
  playbook("  - migrate\n");
  // A session holds ferry.migrations against writes: ferry's ledger row waits; then ferry is
  // killed and its backend terminated, after the migration's statement, before its ledger row.
  auto holder = pg().connect("app");
  holder->exec("BEGIN; LOCK TABLE ferry.migrations IN SHARE MODE");
  {
    Background run({ferry_binary(), "-C", project.root(), "run", "promote"});
    std::string pid = wait_for(pg(),
                               "SELECT pid FROM pg_stat_activity WHERE application_name = 'ferry' AND "
                               "wait_event_type = 'Lock' AND query LIKE '%INSERT INTO ferry.migrations%'");
    ASSERT_FALSE(pid.empty());
    run.signal(SIGKILL);
    run.wait();
    q("SELECT pg_terminate_backend(" + pid + ")");
  }
  holder->exec("ROLLBACK");
  EXPECT_EQ(q("SELECT count(*) FROM pg_attribute WHERE attrelid = 'tasks'::regclass AND attname = 'x'"), "1");
  EXPECT_EQ(q("SELECT count(*) FROM ferry.migrations"), "0");

  auto st = project.ferry({"status", "--env", "dev"});
  EXPECT_TRUE(contains(st.out, "interrupted  0001_x (no-transaction) was cut off while applying")) << st.out;
  EXPECT_TRUE(contains(st.out, "a human must look")) << st.out;
  auto plan = project.ferry({"plan", "promote"});
  EXPECT_TRUE(contains(plan.out, "refused (interrupted migration)")) << plan.out;
  auto r = project.ferry({"run", "promote"});
  EXPECT_EQ(r.code, 3) << r.all();
  EXPECT_TRUE(contains(r.all(), "0001_x (no-transaction) was cut off while applying")) << r.all();

  // The human undoes it and says so, as the hint tells: the next run applies it.
  pg().exec("app",
            "ALTER TABLE tasks DROP COLUMN x; INSERT INTO ferry.history (version, name, action, run_id) "
            "VALUES ('0001', 'x', 'resolved', 'by hand')");
  r = project.ferry({"run", "promote"});
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_EQ(q("SELECT count(*) FROM ferry.migrations"), "1");
}

TEST_F(Proof, AFailedNoTransactionMigrationThatLeftNothingIsSettled) {
  project.migration("0001_x", "-- ferry:no-transaction\nSELECT 1/0;", "SELECT 1;");
  playbook("  - migrate\n");
  auto r = project.ferry({"run", "promote"});
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_FALSE(contains(project.ferry({"status", "--env", "dev"}).out, "interrupted")) << r.out;
}

TEST_F(Proof, APostgresRestartDuringRollbackBackupRestoresAgain) {
  ASSERT_EQ(project.ferry({"backup", "dev"}).code, 0);
  std::string fp = fingerprint();
  pg().exec("app", "CREATE TABLE t2 (x int); DELETE FROM tasks WHERE id > 100;");
  auto reader = pg().connect("app");
  reader->exec("BEGIN; LOCK TABLE tasks IN ACCESS SHARE MODE");
  Background rb({ferry_binary(), "-C", project.root(), "rollback", "dev", "--backup", "latest"});
  ASSERT_FALSE(
      wait_for(pg(), "SELECT pid FROM pg_stat_activity WHERE application_name = 'psql' AND wait_event_type = 'Lock'")
          .empty());
  pg().restart();
  auto r = rb.wait();
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_TRUE(contains(r.out, "restoring again")) << r.out;
  EXPECT_EQ(fingerprint(), fp);
  EXPECT_EQ(q("SELECT count(*) FROM tasks"), "500");
}

}  // namespace
