// A batch of migrations sent in one round trip (transaction: all): each migration's ledger row has
// its own duration, history is in version order, and nothing is recorded when a statement of the
// batch or the recording of a row fails (a planted trigger).
// (`lock_trace: never`: a traced migration goes alone, as before.) Real PostgreSQL, the real ferry binary.
#include <gtest/gtest.h>

#include "support/app_fixture.hpp"

using namespace ferry::test;

namespace {

class LedgerBatch : public AppTest<LedgerBatch> {
 protected:
  void SetUp() override {
    AppTest::SetUp();
    project.env("dev", pg(), "app");
    project.write("playbooks/promote.yaml", "stages: [dev]\nsteps:\n  - migrate: {lock_trace: never}\n");
  }
  std::string q(const std::string& sql) { return pg().value("app", sql); }
};

TEST_F(LedgerBatch, EachMigrationOfABatchRecordsItsOwnDuration) {
  project.migration("0001_a", "CREATE TABLE a (id int);", "DROP TABLE a;");
  project.migration("0002_slow", "CREATE TABLE b (id int);\nSELECT pg_sleep(1.5);", "DROP TABLE b;");
  project.migration("0003_c", "CREATE TABLE c (id int);", "DROP TABLE c;");
  auto r = project.ferry({"run", "promote"});
  ASSERT_EQ(r.code, 0) << r.all();
  // pg_sleep(1.5) is in 0002 alone: its duration holds it, the others' do not
  EXPECT_GE(std::stol(q("SELECT duration_ms FROM ferry.migrations WHERE version = '0002'")), 1500);
  EXPECT_LT(std::stol(q("SELECT duration_ms FROM ferry.migrations WHERE version = '0001'")), 1500);
  EXPECT_LT(std::stol(q("SELECT duration_ms FROM ferry.migrations WHERE version = '0003'")), 1500);
  EXPECT_EQ(q("SELECT string_agg(version || ':' || action, ',' ORDER BY id) FROM ferry.history"),
            "0001:applied,0002:applied,0003:applied");
  EXPECT_EQ(q("SELECT count(DISTINCT run_id) FROM ferry.migrations"), "1");
  EXPECT_EQ(q("SELECT string_agg(checksum, '') = '' FROM ferry.migrations"), "f");
}

// 60 migrations: two batches, each recorded by one statement. Every row is there, exactly as
// written (a down.sql with quotes, dollar quotes and a backslash), history in version order.
TEST_F(LedgerBatch, TwoBatchesRecordEveryRowExactlyAndInOrder) {
  const std::string tricky = "DELETE FROM t_7 WHERE note = 'it''s $$ \\ done';\nDROP TABLE t_7;";
  for (int i = 1; i <= 60; ++i) {
    char v[8];
    std::snprintf(v, sizeof v, "%04d", i);
    std::string t = "t_" + std::to_string(i);
    project.migration(std::string(v) + "_" + t, "CREATE TABLE " + t + " (id int, note text);",
                      i == 7 ? tricky : "DROP TABLE " + t + ";");
  }
  auto r = project.ferry({"run", "promote"});
  ASSERT_EQ(r.code, 0) << r.all();
  EXPECT_EQ(q("SELECT count(*) FROM ferry.migrations"), "60");
  EXPECT_EQ(q("SELECT down_sql FROM ferry.migrations WHERE version = '0007'"), tricky);
  EXPECT_EQ(q("SELECT string_agg(version, ',' ORDER BY id) = string_agg(version, ',' ORDER BY version) "
              "FROM ferry.history WHERE action = 'applied'"),
            "t");
  EXPECT_EQ(q("SELECT count(*) FROM ferry.migrations WHERE duration_ms IS NULL OR duration_ms < 0"), "0");
}

TEST_F(LedgerBatch, ABatchThatFailsRecordsNothingAndNamesTheMigration) {
  project.migration("0001_a", "CREATE TABLE a (id int);", "DROP TABLE a;");
  project.migration("0002_b", "CREATE TABLE b (id int);", "DROP TABLE b;");
  project.migration("0003_bad", "CREATE TABLE c (id int);\nINSERT INTO nowhere VALUES (1);", "DROP TABLE c;");
  auto r = project.ferry({"run", "promote"});
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(contains(r.all(), "0003_bad/up.sql:2:1")) << r.all();
  EXPECT_EQ(q("SELECT to_regclass('a') IS NULL AND to_regclass('b') IS NULL"), "t");
  EXPECT_EQ(q("SELECT count(*) FROM ferry.migrations"), "0");
  EXPECT_EQ(q("SELECT count(*) FROM ferry.history"), "0");
}

TEST_F(LedgerBatch, ABatchWhoseRecordingFailsChangesNothingAndNamesTheBatch) {
  project.migration("0001_a", "CREATE TABLE a (id int);", "DROP TABLE a;");
  ASSERT_EQ(project.ferry({"run", "promote"}).code, 0);
  // a planted trigger refuses 0002's ledger row (not the batch's last): the batch's one recording
  // statement fails, and the message names the batch, not one migration
  pg().exec("app",
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.version = '0002' THEN "
            "RAISE EXCEPTION 'planted refusal'; END IF; RETURN NEW; END $$;"
            "CREATE TRIGGER refuse BEFORE INSERT ON ferry.migrations FOR EACH ROW EXECUTE FUNCTION refuse()");
  project.migration("0002_b", "CREATE TABLE b (id int);", "DROP TABLE b;");
  project.migration("0003_c", "CREATE TABLE c (id int);", "DROP TABLE c;");
  auto r = project.ferry({"run", "promote"});
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(contains(r.all(), "recording 0002_b .. 0003_c in ferry.migrations")) << r.all();
  EXPECT_TRUE(contains(r.all(), "planted refusal")) << r.all();
  EXPECT_EQ(q("SELECT to_regclass('b') IS NULL AND to_regclass('c') IS NULL"), "t");
  EXPECT_EQ(q("SELECT string_agg(version, ',' ORDER BY version) FROM ferry.migrations"), "0001");
}

// A migration may change the session's settings for the ones after it: standard_conforming_strings
// off (old pg_dump files do) and another DateStyle. The batch's recording, written before it was
// sent, still stores every down.sql exactly (a backslash before a quote included) and sane
// durations. (With the time marks as timestamps, 0002's duration read a date written as SQL, DMY
// back as ISO, MDY: months off, or an error that failed the batch after the 12th of a month.)
TEST_F(LedgerBatch, ARecordingReadsTheSameAfterAMigrationChangedTheSessionsSettings) {
  project.migration("0001_settings",
                    "SET standard_conforming_strings = off;\nSET datestyle = 'SQL, DMY';\nCREATE TABLE a (id int);",
                    "DROP TABLE a;");
  const std::string down = "SELECT 'a\\' AS x;\nDROP TABLE b;";
  project.migration("0002_b", "SET datestyle = 'ISO, MDY';\nCREATE TABLE b (id int);", down);
  auto r = project.ferry({"run", "promote"});
  ASSERT_EQ(r.code, 0) << r.all();
  EXPECT_EQ(q("SELECT down_sql FROM ferry.migrations WHERE version = '0002'"), down);
  EXPECT_EQ(q("SELECT count(*) FROM ferry.migrations WHERE duration_ms BETWEEN 0 AND 60000"), "2");
}

// The same with a transaction per migration: each row's duration from its own start mark.
TEST_F(LedgerBatch, EachTransactionsDurationsSurviveAnotherDateStyle) {
  project.write("playbooks/each.yaml", "stages: [dev]\nsteps:\n  - migrate: {transaction: each, lock_trace: never}\n");
  project.migration("0001_settings", "SET datestyle = 'SQL, DMY';\nCREATE TABLE a (id int);", "DROP TABLE a;");
  project.migration("0002_b", "SET datestyle = 'ISO, MDY';\nCREATE TABLE b (id int);", "DROP TABLE b;");
  auto r = project.ferry({"run", "each"});
  ASSERT_EQ(r.code, 0) << r.all();
  EXPECT_EQ(q("SELECT count(*) FROM ferry.migrations WHERE duration_ms BETWEEN 0 AND 60000"), "2");
}

}  // namespace
