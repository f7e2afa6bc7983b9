// migrate.lock_retries: a migration that cannot get its lock within lock_timeout is rolled back and
// tried again with backoff, naming the session in the way. Real PostgreSQL, a real psql blocker.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "support/fixtures.hpp"

using namespace ferry::test;

namespace {

class LockRetry : public ::testing::Test {
 protected:
  static PgCluster& pg() {
    static PgCluster cluster;
    return cluster;
  }
  void SetUp() override {
    pg().create_db("app");
    pg().exec("app", "CREATE TABLE orders (id int)");
    project.env("dev", pg(), "app");
    project.migration("0001_note", "ALTER TABLE orders ADD COLUMN note text;", "ALTER TABLE orders DROP COLUMN note;");
  }
  void TearDown() override { end_blocker(); }
  // Ends the blocker's session: its lock goes with it.
  void end_blocker() {
    pg().exec("app",
              "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'nightly-report'");
  }
  void playbook(const std::string& migrate_body) {
    project.write("playbooks/promote.yaml", "stages: [dev]\nsteps:\n  - migrate: " + migrate_body + "\n");
  }
  // A psql session holding ACCESS SHARE on orders in an open transaction for `seconds`.
  std::unique_ptr<Background> blocker(int seconds) {
    auto bg = std::make_unique<Background>(
        std::vector<std::string>{"/usr/bin/psql", "-X", "-h", "127.0.0.1", "-p", std::to_string(pg().port()), "-U",
                                 "postgres", "-d", "app", "-c", "BEGIN", "-c", "LOCK TABLE orders IN ACCESS SHARE MODE",
                                 "-c", "SELECT pg_sleep(" + std::to_string(seconds) + ")", "-c", "COMMIT"},
        std::map<std::string, std::string>{{"PGAPPNAME", "nightly-report"}});
    wait_until([&] { return held() != "0"; });
    EXPECT_EQ(held(), "1");
    return bg;
  }
  std::string held() {
    return pg().value("app",
                      "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
                      "WHERE a.application_name = 'nightly-report' AND l.relation = 'orders'::regclass AND l.granted");
  }
  std::string has_note() {
    return pg().value("app",
                      "SELECT count(*) FROM information_schema.columns WHERE table_name = 'orders' AND "
                      "column_name = 'note'");
  }
  Project project;
};

// The blocker lets go once ferry has said it retries (a blocker held a fixed 2 s was gone before
// a slow ferry reached its migration, which then took its lock at the first attempt).
TEST_F(LockRetry, RetriesUntilTheBlockerLetsGo) {
  playbook("{lock_timeout: 200ms, lock_retries: 6, lock_retry_max: 1s}");
  auto bg = blocker(120);
  Background run({ferry_binary(), "-C", project.root(), "run", "promote"});
  EXPECT_TRUE(run.wait_for_output("attempt 2 of 7"));
  end_blocker();
  auto r = run.wait();
  ASSERT_EQ(r.code, 0) << r.all();
  EXPECT_TRUE(contains(r.all(), "lock_timeout (200ms) at migrations/0001_note/up.sql:1:1")) << r.all();
  EXPECT_TRUE(contains(r.all(), "attempt 2 of 7")) << r.all();
  EXPECT_TRUE(contains(r.all(), "application_name 'nightly-report'")) << r.all();
  EXPECT_TRUE(contains(r.all(), "holds a lock on orders")) << r.all();
  EXPECT_TRUE(contains(r.out, "applied 1: 0001_note")) << r.out;
  EXPECT_EQ(has_note(), "1");
  EXPECT_EQ(pg().value("app", "SELECT count(*) FROM ferry.migrations"), "1");
}

TEST_F(LockRetry, GivesUpAfterTheRetriesAndRollsBack) {
  project.migration("0000_first", "CREATE TABLE first (id int);", "DROP TABLE first;");
  playbook("{lock_timeout: 200ms, lock_retries: 2, lock_retry_max: 1s}");
  auto bg = blocker(60);
  auto r = project.ferry({"run", "promote"}, {{"NO_COLOR", "1"}});
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(contains(r.all(), "attempt 3 of 3")) << r.all();
  EXPECT_FALSE(contains(r.all(), "attempt 4")) << r.all();
  EXPECT_TRUE(contains(r.all(), "lock timeout")) << r.all();
  EXPECT_EQ(has_note(), "0");
  EXPECT_EQ(pg().value("app", "SELECT count(*) FROM pg_tables WHERE tablename = 'first'"), "0");
  EXPECT_EQ(pg().value("app", "SELECT count(*) FROM ferry.migrations"), "0");
}

TEST_F(LockRetry, BadConfigIsAUsageError) {
  for (std::string body : {"{lock_retries: -1}", "{lock_retries: many}", "{lock_retry_max: soon}",
                           "{lock_retry_max: 100ms}", "{lock_retry: 3}"}) {
    playbook(body);
    auto r = project.ferry({"run", "promote"}, {{"NO_COLOR", "1"}});
    EXPECT_EQ(r.code, 64) << body << "\n" << r.all();
    EXPECT_TRUE(contains(r.all(), "promote.yaml:3:")) << body << "\n" << r.all();
  }
}

}  // namespace
