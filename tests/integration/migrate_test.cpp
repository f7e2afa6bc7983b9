// Native migrations against a real PostgreSQL cluster, through the real ferry binary.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "support/fixtures.hpp"

using namespace ferry::test;
using nlohmann::json;

namespace {

class Migrate : public ::testing::Test {
 protected:
  static PgCluster& pg() {
    static PgCluster cluster;
    return cluster;
  }
  void SetUp() override {
    pg().create_db("app");
    project.env("dev", pg(), "app");
    project.write("playbooks/promote.yaml", "stages: [dev]\nsteps:\n  - migrate\n");
  }
  void five_migrations(int failing = 0) {
    for (int i = 1; i <= 5; ++i) {
      std::string up = "CREATE TABLE t" + std::to_string(i) + " (id int);";
      if (i == failing) up += "\nINSERT INTO no_such_table VALUES (1);";
      project.migration("000" + std::to_string(i) + "_t" + std::to_string(i), up,
                        "DROP TABLE t" + std::to_string(i) + ";");
    }
  }
  std::string count(const std::string& sql) { return pg().value("app", sql); }
  Project project;
};

TEST_F(Migrate, AppliesInOrderAndRecordsTheLedger) {
  five_migrations();
  auto r = project.ferry({"run", "promote"});
  ASSERT_EQ(r.code, 0) << r.all();
  EXPECT_TRUE(contains(r.out, "applied 5: 0001_t1 .. 0005_t5")) << r.out;
  EXPECT_EQ(count("SELECT count(*) FROM pg_tables WHERE tablename ~ '^t[1-5]$'"), "5");
  EXPECT_EQ(count("SELECT string_agg(version, ',' ORDER BY version) FROM ferry.migrations"),
            "0001,0002,0003,0004,0005");
  EXPECT_EQ(count("SELECT down_sql FROM ferry.migrations WHERE version = '0003'"), "DROP TABLE t3;");
  EXPECT_EQ(count("SELECT checksum FROM ferry.migrations WHERE version = '0001'"),
            count("SELECT encode(sha256('CREATE TABLE t1 (id int);'), 'hex')"));
  EXPECT_EQ(count("SELECT outcome || ' ' || version_after FROM ferry.runs"), "succeeded 0005");
  // The journal exists and ends with the run's outcome.
  std::string run_id = count("SELECT id FROM ferry.runs");
  std::string journal = project.read(".ferry/runs/" + run_id + ".jsonl");
  EXPECT_TRUE(contains(journal, "\"event\":\"step_finished\"")) << journal;
  EXPECT_TRUE(contains(journal, "\"event\":\"run_finished\"")) << journal;
}

TEST_F(Migrate, RerunIsANoOp) {
  five_migrations();
  ASSERT_EQ(project.ferry({"run", "promote"}).code, 0);
  auto r = project.ferry({"run", "promote"});
  ASSERT_EQ(r.code, 0) << r.all();
  EXPECT_TRUE(contains(r.out, "nothing to apply, at 0005")) << r.out;
  EXPECT_EQ(count("SELECT count(*) FROM ferry.migrations"), "5");
  EXPECT_EQ(count("SELECT count(*) FROM ferry.runs WHERE outcome = 'succeeded'"), "2");
}

TEST_F(Migrate, FailureInTheThirdOfFiveLeavesNothingInDefaultMode) {
  five_migrations(3);
  auto r = project.ferry({"run", "promote"});
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(contains(r.out, "0003_t3: migrations/0003_t3/up.sql:2:1: relation \"no_such_table\" does not exist"))
      << r.out;
  EXPECT_EQ(count("SELECT count(*) FROM pg_tables WHERE tablename ~ '^t[1-5]$'"), "0");
  EXPECT_EQ(count("SELECT count(*) FROM ferry.migrations"), "0");
  EXPECT_EQ(count("SELECT outcome FROM ferry.runs"), "rolled_back");
}

TEST_F(Migrate, EachModeWithStopKeepsAndReportsTheFirstTwo) {
  five_migrations(3);
  project.write("playbooks/promote.yaml",
                "stages: [dev]\nsteps:\n  - migrate: {transaction: each}\non_failure: stop\n");
  auto r = project.ferry({"run", "promote"});
  EXPECT_EQ(r.code, 2) << r.all();
  EXPECT_TRUE(contains(r.all(), "committed by this run: 2 migration(s), newest 0002")) << r.all();
  EXPECT_TRUE(contains(r.all(), "a human must act") || contains(r.all(), "environment changed")) << r.all();
  EXPECT_EQ(count("SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE tablename ~ '^t[1-5]$'"),
            "t1,t2");
  EXPECT_EQ(count("SELECT string_agg(version, ',' ORDER BY version) FROM ferry.migrations"), "0001,0002");
  EXPECT_EQ(count("SELECT outcome FROM ferry.runs"), "needs_attention");
}

TEST_F(Migrate, EachModeWithRollbackRevertsTheFirstTwoByDownSql) {
  five_migrations(3);
  project.write("playbooks/promote.yaml", "stages: [dev]\nsteps:\n  - migrate: {transaction: each}\n");
  auto r = project.ferry({"run", "promote"});
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(contains(r.out, "reverted 2 by down SQL")) << r.out;
  EXPECT_TRUE(contains(r.out, "row counts as before")) << r.out;
  EXPECT_EQ(count("SELECT count(*) FROM pg_tables WHERE tablename ~ '^t[1-5]$'"), "0");
  EXPECT_EQ(count("SELECT count(*) FROM ferry.migrations"), "0");
  EXPECT_EQ(count("SELECT string_agg(action || ' ' || version, ',' ORDER BY id) FROM ferry.history"),
            "applied 0001,applied 0002,reverted 0002,reverted 0001");
}

TEST_F(Migrate, NoTransactionMigrationBuildsAnIndexConcurrently) {
  project.migration(
      "0001_t", "CREATE TABLE t (id int, a text);\nINSERT INTO t SELECT g, g::text FROM generate_series(1, 1000) g;",
      "DROP TABLE t;");
  project.migration("0002_idx", "-- ferry:no-transaction\nCREATE INDEX CONCURRENTLY t_a_idx ON t (a);\n",
                    "DROP INDEX t_a_idx;");
  project.migration("0003_after", "ALTER TABLE t ADD COLUMN b int;", "ALTER TABLE t DROP COLUMN b;");
  auto r = project.ferry({"run", "promote"});
  ASSERT_EQ(r.code, 0) << r.all();
  EXPECT_EQ(count("SELECT indisvalid FROM pg_index WHERE indexrelid = 't_a_idx'::regclass"), "t");
  EXPECT_EQ(count("SELECT count(*) FROM ferry.migrations"), "3");
}

TEST_F(Migrate, VerifySqlMustHold) {
  project.migration("0001_t", "CREATE TABLE t (id int);\nINSERT INTO t VALUES (1);", "DROP TABLE t;");
  project.write("migrations/0001_t/verify.sql", "SELECT count(*) = 2 FROM t;\n");
  auto r = project.ferry({"run", "promote"});
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(contains(r.out, "migrations/0001_t/verify.sql:1: check returned false")) << r.out;
  EXPECT_EQ(count("SELECT to_regclass('t') IS NULL"), "t");
}

TEST_F(Migrate, LockTimeoutIsApplied) {
  project.migration("0001_t", "CREATE TABLE t (id int);", "DROP TABLE t;");
  ASSERT_EQ(project.ferry({"run", "promote"}).code, 0);
  project.migration("0002_alter", "ALTER TABLE t ADD COLUMN b int;", "ALTER TABLE t DROP COLUMN b;");
  project.write("playbooks/promote.yaml", "stages: [dev]\nsteps:\n  - migrate: {lock_timeout: 300ms}\n");
  auto holder = pg().connect("app");
  holder->exec("BEGIN; LOCK TABLE t IN ACCESS SHARE MODE;");
  auto r = project.ferry({"run", "promote"});
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(contains(r.out, "canceling statement due to lock timeout")) << r.out;
  holder->exec("ROLLBACK");
}

TEST_F(Migrate, DriftOfEveryKindRefusesWithExit3) {
  project.migration("0001_a", "CREATE TABLE a (id int);", "DROP TABLE a;");
  project.migration("0003_c", "CREATE TABLE c (id int);", "DROP TABLE c;");
  ASSERT_EQ(project.ferry({"run", "promote"}).code, 0);

  // changed checksum
  project.migration("0001_a", "CREATE TABLE a (id bigint);", "DROP TABLE a;");
  auto r = project.ferry({"run", "promote"});
  EXPECT_EQ(r.code, 3) << r.all();
  EXPECT_TRUE(contains(r.all(), "0001_a: up.sql changed since it was applied")) << r.all();
  auto s = project.ferry({"status"});
  EXPECT_TRUE(contains(s.out, "0001_a: up.sql changed since it was applied")) << s.out;
  project.migration("0001_a", "CREATE TABLE a (id int);", "DROP TABLE a;");

  // missing file
  project.remove("migrations/0003_c");
  r = project.ferry({"run", "promote"});
  EXPECT_EQ(r.code, 3) << r.all();
  EXPECT_TRUE(contains(r.all(), "0003_c: applied, but its directory is missing")) << r.all();
  project.migration("0003_c", "CREATE TABLE c (id int);", "DROP TABLE c;");

  // out of order
  project.migration("0002_b", "CREATE TABLE b (id int);", "DROP TABLE b;");
  r = project.ferry({"run", "promote"});
  EXPECT_EQ(r.code, 3) << r.all();
  EXPECT_TRUE(contains(r.all(), "0002_b: pending, but the newer 0003 is already applied (out of order)")) << r.all();
  auto st = project.ferry({"status", "--json"});
  auto j = json::parse(st.out);
  EXPECT_EQ(j[0]["drift"].size(), 1u);
  EXPECT_EQ(count("SELECT to_regclass('b') IS NULL"), "t");
}

// "At once" without a clock: the first run holds the lock until the test opens its gate, so a
// second run that returns before that did not wait for the lock (a fixed pg_sleep(4) holder and
// "under 3 s" failed when a loaded machine started the second ferry slowly).
TEST_F(Migrate, SecondRunIsRefusedAtOnceNamingTheHolder) {
  project.migration("0001_slow", "CREATE TABLE slow (id int);", "DROP TABLE slow;");
  Gate gate;
  project.write("playbooks/promote.yaml",
                "stages: [dev]\nsteps:\n  - migrate\n  - run: {command: " + gate.command() + "}\n");
  Background first({ferry_binary(), "-C", project.root(), "run", "promote"}, {{"FERRY_OPERATOR", "alice"}});
  // Wait until the first run holds the lock (its row is in ferry.runs).
  ASSERT_TRUE(wait_until([&] {
    try {  // ferry.runs does not exist until the first run has created it
      return count("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 1717924466") == "1" &&
             count("SELECT count(*) FROM ferry.runs WHERE outcome = 'running'") == "1";
    } catch (const std::exception&) {
      return false;
    }
  }));
  auto second = project.ferry({"run", "promote"}, {{"FERRY_OPERATOR", "bob"}});
  bool first_still_running = count("SELECT count(*) FROM ferry.runs WHERE outcome = 'running'") == "1";
  gate.open();
  EXPECT_EQ(second.code, 3) << second.all();
  EXPECT_TRUE(first_still_running) << "refused at once: while the first run still held the lock";
  EXPECT_FALSE(contains(second.all(), "waiting up to")) << second.all();
  std::string first_id = count("SELECT id FROM ferry.runs WHERE operator = 'alice'");
  EXPECT_TRUE(contains(second.all(), "environment 'dev' is locked by run " + first_id + " by alice on "))
      << second.all();
  auto done = first.wait();
  EXPECT_EQ(done.code, 0) << done.all();
  EXPECT_EQ(count("SELECT count(*) FROM ferry.migrations"), "1");
}

TEST_F(Migrate, PagilaRowCountsUnchanged) {
  pg().load_pagila("app");
  std::string before = count(
      "SELECT string_agg(format('%s=%s', c.relname, (xpath('/row/n/text()', query_to_xml('select count(*) as n from "
      "public.' || quote_ident(c.relname), false, true, '')))[1]::text), ',' ORDER BY c.relname) "
      "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r'");
  project.migration("0001_customer_tier", "ALTER TABLE customer ADD COLUMN tier text NOT NULL DEFAULT 'standard';",
                    "ALTER TABLE customer DROP COLUMN tier;");
  project.migration(
      "0002_rental_idx",
      "-- ferry:no-transaction\nCREATE INDEX CONCURRENTLY rental_last_update_idx ON rental (last_update);",
      "DROP INDEX rental_last_update_idx;");
  project.migration("0003_audit",
                    "CREATE TABLE audit_log (id bigserial PRIMARY KEY, at timestamptz DEFAULT now(), what text);",
                    "DROP TABLE audit_log;");
  project.write("playbooks/promote.yaml",
                "stages: [dev]\nsteps:\n  - migrate\n  - verify:\n      columns:\n        - customer.tier: text\n      "
                "row_counts: all\n");
  auto r = project.ferry({"run", "promote"});
  ASSERT_EQ(r.code, 0) << r.all();
  std::string after = count(
      "SELECT string_agg(format('%s=%s', c.relname, (xpath('/row/n/text()', query_to_xml('select count(*) as n from "
      "public.' || quote_ident(c.relname), false, true, '')))[1]::text), ',' ORDER BY c.relname) "
      "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r' "
      "AND c.relname <> 'audit_log'");
  EXPECT_EQ(before, after);
  EXPECT_TRUE(contains(before, "rental=16044")) << before;
  EXPECT_EQ(count("SELECT count(*) FROM customer WHERE tier = 'standard'"), "599");
}

TEST_F(Migrate, FingerprintIsStableAndSensitive) {
  project.migration("0001_t", "CREATE TABLE t (id int PRIMARY KEY, a text DEFAULT 'x');", "DROP TABLE t;");
  ASSERT_EQ(project.ferry({"run", "promote"}).code, 0);
  auto fp = [&] { return json::parse(project.ferry({"status", "--json"}).out)[0]["fingerprint"].get<std::string>(); };
  std::string a = fp();
  EXPECT_EQ(a, fp());
  pg().exec("app", "INSERT INTO t VALUES (1)");  // data is not schema
  EXPECT_EQ(a, fp());
  pg().exec("app", "ALTER TABLE t ALTER COLUMN a SET DEFAULT 'y'");
  std::string b = fp();
  EXPECT_NE(a, b);
  pg().exec("app", "ALTER TABLE t ALTER COLUMN a SET DEFAULT 'x'");
  EXPECT_EQ(a, fp());
  pg().exec("app", "CREATE INDEX t_a ON t (a)");
  EXPECT_NE(a, fp());
}

}  // namespace
