// The swap restore's window (backup.restore: swap) attacked with SIGKILL: ferry is stopped at
// each point of the swap (the test-only FERRY_TEST_PAUSE_AT=swap:POINT makes it wait there),
// killed, and the next command is run as a user would. The data is never lost: the database
// is the original until the renaming commits, the restored (proven) copy after it, and what it
// replaced is kept until ferry marked the swap complete. Real PostgreSQL, the real ferry binary.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "core/text.hpp"
#include "support/fixtures.hpp"

namespace fs = std::filesystem;
using namespace ferry::test;

namespace {

class SwapWindow : public ::testing::Test {
 protected:
  static PgCluster& pg() {
    static PgCluster cluster;
    return cluster;
  }
  void SetUp() override {
    pg().exec("postgres",
              "DO $$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'app_owner') THEN CREATE ROLE "
              "app_owner LOGIN CREATEDB; END IF; END$$");
    // What an earlier test left: its background drop ended, then every copy and app itself.
    eventually([&] {
      return meta("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'ferry drop %'") == "0";
    });
    pg().exec("postgres",
              "DO $$DECLARE d text; BEGIN FOR d IN SELECT datname FROM pg_database WHERE datname LIKE 'ferry\\_re%' "
              "OR datname = 'app' LOOP EXECUTE format('ALTER DATABASE %I ALLOW_CONNECTIONS true', d); END LOOP; END$$");
    for (const auto& d : split_lines(leftovers()))
      pg().exec("postgres", "DROP DATABASE IF EXISTS " + d + " WITH (FORCE)");
    pg().exec("postgres", "DROP DATABASE IF EXISTS app WITH (FORCE)");
    pg().exec("postgres", "CREATE DATABASE app OWNER app_owner");
    backups = temp_dir("ferry-swap-window");
    pause_file = backups + "/paused";
    project.write("environments/staging.yaml",
                  "database:\n  name: app\n  user: app_owner\n  host: 127.0.0.1\n  port: " +
                      std::to_string(pg().port()) + "\nbackup:\n  dir: " + backups + "\n  restore: swap\n");
    project.write("playbooks/p.yaml", "stages: [staging]\nsteps: [backup, migrate]\n");
    project.migration("0001_tasks",
                      "CREATE TABLE tasks (id serial PRIMARY KEY, title text NOT NULL);"
                      "INSERT INTO tasks (title) SELECT md5(g::text) FROM generate_series(1, 100) g;",
                      "DROP TABLE tasks;");
    auto r1 = project.ferry({"run", "p"});
    ASSERT_EQ(r1.code, 0) << r1.all();
    project.migration("0002_notes", "CREATE TABLE notes (id int);", "DROP TABLE notes;");
    auto r2 = project.ferry({"run", "p"});
    ASSERT_EQ(r2.code, 0) << r2.all();
    pg().exec("app", "INSERT INTO tasks (title) VALUES ('after the release')");
  }
  void TearDown() override { fs::remove_all(backups); }

  static std::vector<std::string> split_lines(const std::string& s) {
    std::vector<std::string> out;
    size_t p = 0;
    while (p < s.size()) {
      size_t e = s.find(',', p);
      if (e == std::string::npos) e = s.size();
      out.push_back("\"" + s.substr(p, e - p) + "\"");
      p = e + 1;
    }
    return out;
  }
  std::string q(const std::string& sql, const std::string& db = "app") { return pg().value(db, sql); }
  std::string meta(const std::string& sql) { return q(sql, "postgres"); }
  std::string oid() { return meta("SELECT oid FROM pg_database WHERE datname = 'app'"); }
  std::string allows() { return meta("SELECT datallowconn FROM pg_database WHERE datname = 'app'"); }
  std::string leftovers() {
    return meta("SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database WHERE datname LIKE 'ferry\\_re%'");
  }
  std::string replaced() {
    return meta("SELECT string_agg(datname, ',') FROM pg_database WHERE datname LIKE 'ferry\\_replaced\\_%'");
  }
  // Waits (bounded) until `f` is true.
  template <class F>
  bool eventually(F f) {
    for (int i = 0; i < 600; ++i) {
      if (f()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }
  // `ferry rollback staging --backup before:0002` stopped at swap:POINT and killed with SIGKILL.
  std::string kill_at(const std::string& point) {
    Background bg({ferry_binary(), "-C", project.root(), "rollback", "staging", "--backup", "before:0002"},
                  {{"FERRY_TEST_PAUSE_AT", "swap:" + point}, {"FERRY_TEST_PAUSE_FILE", pause_file}});
    bool reached = eventually([&] { return fs::exists(pause_file); });
    bg.signal(SIGKILL);
    auto r = bg.wait();
    fs::remove(pause_file);
    EXPECT_TRUE(reached) << "ferry never reached swap:" << point << "\n" << r.all();
    return r.all();
  }
  // The original's data: 0002's table and the row written after the release.
  void expect_original(const std::string& db = "app") {
    EXPECT_EQ(q("SELECT to_regclass('notes') IS NOT NULL", db), "t");
    EXPECT_EQ(q("SELECT count(*) FROM tasks", db), "101");
  }
  void expect_restored() {
    EXPECT_EQ(q("SELECT to_regclass('notes') IS NULL"), "t");
    EXPECT_EQ(q("SELECT count(*) FROM tasks"), "100");
  }

  Project project;
  std::string backups, pause_file;
};

TEST_F(SwapWindow, KilledWithConnectionsBlockedTheNextRollbackAllowsThemAndRestores) {
  std::string before = oid();
  kill_at("blocked");
  EXPECT_EQ(allows(), "f") << "the kill left the database refusing connections";
  EXPECT_EQ(oid(), before);
  auto run = project.ferry({"run", "p"});
  EXPECT_NE(run.code, 0) << run.all();
  EXPECT_TRUE(contains(run.all(), "not currently accepting connections")) << run.all();
  EXPECT_TRUE(contains(run.all(), "`ferry repair staging --reason TEXT`")) << run.all();
  auto r = project.ferry({"rollback", "staging", "--backup", "before:0002"});
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_TRUE(contains(r.all(), "a swap restore was stopped inside its window, before its renaming")) << r.all();
  EXPECT_TRUE(contains(r.all(), "connections are allowed again")) << r.all();
  EXPECT_EQ(allows(), "t");
  expect_restored();
  EXPECT_TRUE(eventually([&] { return leftovers().empty(); })) << leftovers();
}

TEST_F(SwapWindow, KilledJustBeforeTheRenamingRepairAllowsConnectionsAndTheOriginalIsIntact) {
  std::string before = oid();
  kill_at("renaming");
  EXPECT_EQ(allows(), "f");
  EXPECT_EQ(oid(), before);
  auto r = project.ferry({"repair", "staging", "--reason", "a rollback was killed"});
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_TRUE(contains(r.all(), "connections are allowed again")) << r.all();
  EXPECT_TRUE(contains(r.all(), "1 run(s) marked abandoned")) << r.all();
  EXPECT_EQ(allows(), "t");
  EXPECT_EQ(oid(), before);
  expect_original();
  EXPECT_TRUE(contains(leftovers(), "ferry_restore_")) << leftovers();
  auto b = project.ferry({"backup", "staging"});
  EXPECT_EQ(b.code, 0) << b.all();
  EXPECT_TRUE(contains(b.all(), "stopped before its swap")) << b.all();
  EXPECT_EQ(leftovers(), "");
}

TEST_F(SwapWindow, KilledAfterTheRenamingTheRestoredCopyIsInPlaceAndWhatItReplacedIsKeptAndNamed) {
  std::string before = oid();
  kill_at("renamed");
  EXPECT_EQ(allows(), "t") << "the renaming allowed connections in its own transaction";
  EXPECT_NE(oid(), before);
  expect_restored();
  std::string old = replaced();
  ASSERT_TRUE(contains(old, "ferry_replaced_")) << leftovers();
  // Nothing is lost: what the rollback replaced is all there.
  pg().exec("postgres", "ALTER DATABASE " + old + " ALLOW_CONNECTIONS true");
  expect_original(old);
  pg().exec("postgres", "ALTER DATABASE " + old + " ALLOW_CONNECTIONS false");
  auto b = project.ferry({"backup", "staging"});
  EXPECT_EQ(b.code, 0) << b.all();
  EXPECT_TRUE(
      contains(b.all(), "database " + old + " holds what a swap restore replaced: that restore of app was stopped"))
      << b.all();
  EXPECT_TRUE(contains(b.all(), "DROP DATABASE \"" + old + "\" once not needed")) << b.all();
  EXPECT_EQ(replaced(), old) << "kept until a human drops it";
}

TEST_F(SwapWindow, KilledWithItsLockTakenBackTheReplacedIsStillKept) {
  kill_at("relocked");
  EXPECT_EQ(allows(), "t");
  expect_restored();
  std::string old = replaced();
  ASSERT_TRUE(contains(old, "ferry_replaced_")) << leftovers();
  auto r = project.ferry({"rollback", "staging", "--backup", "before:0002"});
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_TRUE(contains(r.all(), "holds what a swap restore replaced")) << r.all();
  expect_restored();
  EXPECT_TRUE(contains(leftovers(), old));
}

TEST_F(SwapWindow, ACompletedSwapDropsTheReplacedDatabaseInTheBackground) {
  auto r = project.ferry({"rollback", "staging", "--backup", "before:0002"});
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_TRUE(contains(r.all(), "is being dropped in the background")) << r.all();
  EXPECT_TRUE(contains(r.all(), "row counts proven on the restored copy before its swap")) << r.all();
  expect_restored();
  EXPECT_TRUE(eventually([&] { return leftovers().empty(); })) << leftovers();
}

TEST_F(SwapWindow, AReplacedDatabaseMarkedDoneIsDroppedByTheNextBackup) {
  // As a background drop cut off would leave it: named as app's, marked complete.
  std::string name = "ferry_replaced_" + ferry::sha256_hex("app").substr(0, 8) + "_abcd_0000";
  pg().exec("postgres", "CREATE DATABASE " + name + " OWNER app_owner");
  pg().exec("postgres", "ALTER DATABASE " + name + " ALLOW_CONNECTIONS false; COMMENT ON DATABASE " + name +
                            " IS 'ferry: replaced by a completed swap restore; to be dropped'");
  auto b = project.ferry({"backup", "staging"});
  EXPECT_EQ(b.code, 0) << b.all();
  EXPECT_TRUE(contains(b.all(), "dropped database " + name + ", replaced by a completed swap restore")) << b.all();
  EXPECT_EQ(leftovers(), "");
}

}  // namespace
