// The data-loss guard and down SQL behind locks, against a real PostgreSQL cluster and the real
// ferry binary.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "support/app_fixture.hpp"
#include "support/fixtures.hpp"

namespace fs = std::filesystem;
using namespace ferry::test;
using Clock = std::chrono::steady_clock;

namespace {

class Guard : public AppTest<Guard> {
 protected:
  Guard() : AppTest({500, "ferry-guard-backups"}) {}
  void SetUp() override {
    AppTest::SetUp();
    project.env("dev", pg(), "app", "backup:\n  dir: " + backups + "\n");
  }
  void TearDown() override {
    end_other_sessions();
    AppTest::TearDown();
  }
  void end_other_sessions() {
    pg().exec("postgres",
              "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'app' AND pid <> "
              "pg_backend_pid()");
  }
  std::string psql() const { return "psql -X -h 127.0.0.1 -p " + std::to_string(pg().port()) + " -U postgres -d app"; }
  // Sessions other than the asking one holding a lock on tasks.
  static constexpr const char* k_lockers =
      "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'tasks' AND l.pid <> "
      "pg_backend_pid()";
  // Writes block.sh: starts a reader holding ACCESS SHARE on tasks for `seconds`, returns once it holds it.
  void write_blocker(int seconds) {
    project.write("block.sh", "setsid " + psql() + " -c 'SELECT count(*), pg_sleep(" + std::to_string(seconds) +
                                  ") FROM tasks' >/dev/null 2>&1 </dev/null &\nfor i in $(seq 600); do\n  n=$(" +
                                  psql() + " -tA -c \"" + k_lockers +
                                  "\")\n  [ \"$n\" -gt 0 ] && exit 0\n  sleep 0.1\ndone\nexit 1\n");
  }
};

TEST_F(Guard, UpdateInsideADoBlockIsRolledBackByRestoringTheBackup) {
  std::string titles = q("SELECT md5(string_agg(title, ',' ORDER BY id)) FROM tasks");
  // Down SQL that cannot bring the titles back: row counts and schema stay equal either way.
  project.migration("0001_shout", "DO $$ BEGIN UPDATE tasks SET title = upper(title); END $$;", "SELECT 1;");
  project.write("playbooks/promote.yaml",
                "stages: [dev]\nsteps:\n  - backup\n  - migrate\n  - verify:\n      sql: [SELECT false]\n");
  auto plan = project.ferry({"plan", "promote"});
  EXPECT_TRUE(contains(plan.out, "roll back by restore backup (0001_shout runs a DO block)")) << plan.all();
  auto r = project.ferry({"run", "promote"});
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(contains(r.out, "restored backup dev-")) << r.out;
  EXPECT_FALSE(contains(r.all(), "by down SQL")) << r.out;
  EXPECT_EQ(q("SELECT md5(string_agg(title, ',' ORDER BY id)) FROM tasks"), titles);
  EXPECT_EQ(q("SELECT title FROM tasks WHERE id = 7"), "task 7");
  EXPECT_EQ(q("SELECT outcome FROM ferry.runs"), "rolled_back");
}

TEST_F(Guard, RollbackToBehindAReaderStopsAtTheLockTimeoutAndChangesNothing) {
  project.migration("0001_col", "ALTER TABLE tasks ADD COLUMN c int;", "ALTER TABLE tasks DROP COLUMN c;");
  project.write("playbooks/promote.yaml", "stages: [dev]\nsteps:\n  - migrate\n");
  ASSERT_EQ(project.ferry({"run", "promote"}).code, 0);
  Background reader({"/usr/bin/psql", "-X", "-h", "127.0.0.1", "-p", std::to_string(pg().port()), "-U", "postgres",
                     "-d", "app", "-c", "SELECT count(*), pg_sleep(40) FROM tasks"});
  wait_until([&] { return q(k_lockers) != "0"; });
  ASSERT_NE(q(k_lockers), "0") << "the reader never took its lock";
  auto t0 = Clock::now();
  auto r = project.ferry({"rollback", "dev", "--to", "0"});
  auto waited = Clock::now() - t0;
  EXPECT_EQ(r.code, 1) << r.all();  // the down transaction rolled back: nothing changed
  EXPECT_TRUE(contains(r.all(), "down SQL of 0001_col could not take its lock within 10.0s")) << r.all();
  EXPECT_TRUE(contains(r.all(), "still applied: 0001_col")) << r.all();
  EXPECT_LT(waited, std::chrono::seconds(30));
  EXPECT_EQ(q("SELECT count(*) FROM ferry.migrations"), "1");
  EXPECT_EQ(q("SELECT count(*) FROM information_schema.columns WHERE table_name = 'tasks' AND column_name = 'c'"), "1");
  end_other_sessions();
  auto again = project.ferry({"rollback", "dev", "--to", "0"});
  EXPECT_EQ(again.code, 0) << again.all();
  EXPECT_EQ(q("SELECT count(*) FROM information_schema.columns WHERE table_name = 'tasks' AND column_name = 'c'"), "0");
}

TEST_F(Guard, CompensatingDownSqlBehindAReaderGivesUpAtTheStepsLockTimeout) {
  project.migration("0001_col", "ALTER TABLE tasks ADD COLUMN c int;", "ALTER TABLE tasks DROP COLUMN c;");
  write_blocker(40);
  project.write("playbooks/promote.yaml",
                "stages: [dev]\nrollback: down\nsteps:\n  - migrate: {lock_timeout: 1s}\n  - run: sh block.sh\n"
                "  - verify:\n      sql: [SELECT false]\n");
  auto t0 = Clock::now();
  auto r = project.ferry({"run", "promote"});
  auto waited = Clock::now() - t0;
  EXPECT_EQ(r.code, 2) << r.all();
  EXPECT_TRUE(contains(r.all(), "down SQL of 0001_col could not take its lock within 1.0s")) << r.all();
  EXPECT_TRUE(contains(r.all(), "still applied: 0001_col")) << r.all();
  EXPECT_LT(waited, std::chrono::seconds(30));
  EXPECT_EQ(q("SELECT outcome FROM ferry.runs"), "needs_attention") << r.all();
  EXPECT_EQ(q("SELECT count(*) FROM ferry.migrations"), "1");
}

}  // namespace
