// The 3 a.m. rollback's leftovers: a mistyped nested command gets a did-you-mean, and the copy a
// swap restore leaves when ferry is killed mid-restore is dropped by the next backup (never the
// live database, never one in use or another database's). Real PostgreSQL, the real binary.
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

class OncallLeftovers : public ::testing::Test {
 protected:
  static PgCluster& pg() {
    static PgCluster cluster;
    return cluster;
  }
  void SetUp() override {
    pg().exec("postgres", "DROP DATABASE IF EXISTS app WITH (FORCE)");
    pg().exec("postgres", "CREATE DATABASE app");
    backups = temp_dir("ferry-leftovers");
    project.write("environments/staging.yaml", "database:\n  name: app\n  user: postgres\n  host: 127.0.0.1\n  port: " +
                                                   std::to_string(pg().port()) + "\nbackup:\n  dir: " + backups +
                                                   "\n  restore: swap\n");
    project.write("playbooks/p.yaml", "stages: [staging]\nsteps: [backup, migrate]\n");
  }
  void TearDown() override {
    fs::remove_all(backups);
    for (const auto& d : split_lines(leftovers()))
      if (!d.empty()) pg().exec("postgres", "DROP DATABASE IF EXISTS \"" + d + "\" WITH (FORCE)");
  }
  std::string q(const std::string& sql, const std::string& db = "app") { return pg().value(db, sql); }
  std::string oid() { return q("SELECT oid FROM pg_database WHERE datname = 'app'", "postgres"); }
  std::string leftovers() {
    return q(
        "SELECT coalesce(string_agg(datname, E'\\n' ORDER BY datname), '') FROM pg_database WHERE datname LIKE "
        "'ferry\\_re%'",
        "postgres");
  }
  static std::vector<std::string> split_lines(const std::string& s) {
    std::vector<std::string> out;
    size_t start = 0;
    for (size_t nl; (nl = s.find('\n', start)) != std::string::npos; start = nl + 1)
      out.push_back(s.substr(start, nl - start));
    out.push_back(s.substr(start));
    return out;
  }
  static std::string tag(const std::string& db) { return ferry::sha256_hex(db).substr(0, 8); }

  Project project;
  std::string backups;
};

TEST_F(OncallLeftovers, MistypedNestedCommandGetsDidYouMean) {
  for (const std::vector<std::string>& args : {std::vector<std::string>{"backup", "verfy"},
                                               {"backup", "verfy", "staging-20261130T000000Z-abcd"},
                                               {"backup", "pni", "staging"}}) {
    auto r = project.ferry(args);
    EXPECT_EQ(r.code, 64) << r.all();
    std::string want = "unknown command 'backup " + args[1] + "' (did you mean 'backup " +
                       (args[1] == "pni" ? "pin" : "verify") + "'?)";
    EXPECT_TRUE(contains(r.err, want)) << r.all();
  }
  // A word that is an environment is the environment, however close to a subcommand.
  project.write("environments/pim.yaml", "database:\n  name: app\n  user: postgres\n  host: 127.0.0.1\n  port: " +
                                             std::to_string(pg().port()) + "\nbackup:\n  dir: " + backups + "\n");
  auto ok = project.ferry({"backup", "pim"});
  EXPECT_EQ(ok.code, 0) << ok.all();
  EXPECT_FALSE(contains(ok.all(), "unknown command")) << ok.all();
  // Far from every subcommand: the unknown environment's own message.
  auto env = project.ferry({"backup", "nosuchenv"});
  EXPECT_EQ(env.code, 64) << env.all();
  EXPECT_FALSE(contains(env.all(), "unknown command")) << env.all();
}

TEST_F(OncallLeftovers, CopyLeftBySigkilledSwapRestoreIsDroppedByTheNextBackup) {
  project.migration("0001_tasks",
                    "CREATE TABLE tasks (id serial PRIMARY KEY, title text NOT NULL);"
                    "INSERT INTO tasks (title) SELECT md5(g::text) FROM generate_series(1, 600000) g;",
                    "DROP TABLE tasks;");
  ASSERT_EQ(project.ferry({"run", "p"}).code, 0);
  project.migration("0002_notes", "CREATE TABLE notes (id int);", "DROP TABLE notes;");
  ASSERT_EQ(project.ferry({"run", "p"}).code, 0);
  std::string live = oid();
  Background bg({ferry_binary(), "-C", project.root(), "rollback", "staging", "--backup", "before:0002"});
  bool copying = false;
  for (int i = 0; i < 1000 && !copying; ++i) {
    copying = q("SELECT count(*) FROM pg_stat_activity WHERE datname LIKE 'ferry\\_restore\\_%' AND application_name "
                "= 'pg_restore' AND query ILIKE 'COPY%'",
                "postgres") != "0";
    if (!copying) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  bg.signal(SIGKILL);  // between pg_restore into the new database and the swap
  auto killed = bg.wait();
  ASSERT_TRUE(copying) << "pg_restore was never seen copying\n" << killed.all();
  // pg_restore (its own process group) finishes or fails on its own; wait until nobody uses the copy.
  for (int i = 0; i < 1500; ++i) {
    if (q("SELECT count(*) FROM pg_stat_activity WHERE datname LIKE 'ferry\\_restore\\_%'", "postgres") == "0") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::string left = leftovers();
  ASSERT_EQ(left.rfind("ferry_restore_" + tag("app") + "_", 0), 0u) << left;
  EXPECT_EQ(oid(), live);  // killed before the swap: the live database was never replaced
  EXPECT_EQ(q("SELECT to_regclass('notes') IS NOT NULL"), "t");

  auto b = project.ferry({"backup", "staging"});
  EXPECT_EQ(b.code, 0) << b.all();
  EXPECT_TRUE(contains(b.out, "dropped database " + left + ", left by a swap restore of app")) << b.out;
  EXPECT_EQ(leftovers(), "");
  EXPECT_EQ(oid(), live);
  EXPECT_EQ(q("SELECT count(*) FROM tasks"), "600000");
}

// CI found this: a ferry SIGKILLed beside its CREATE DATABASE leaves that statement running on the
// server (its session, named as a swap's, ends once the statement does), and the copy appears
// only when it commits. The next command waits for that session before it looks, so it drops a
// copy that was not there yet when it started.
TEST_F(OncallLeftovers, CopyStillBeingCreatedByAKilledSwapIsWaitedForAndDropped) {
  std::string late = "ferry_restore_" + tag("app") + "_eeee_0005";
  Background orphan({"/usr/bin/psql", "-X", "-q", "-h", "127.0.0.1", "-p", std::to_string(pg().port()), "-U",
                     "postgres", "-d", "postgres", "-c", "SELECT pg_sleep(2)", "-c", "CREATE DATABASE " + late},
                    {{"PGAPPNAME", "ferry swap " + tag("app")}});
  ASSERT_TRUE(wait_until([&] {
    return q("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'ferry swap " + tag("app") + "'",
             "postgres") == "1";
  }));
  auto b = project.ferry({"backup", "staging"});
  EXPECT_EQ(orphan.wait().code, 0);
  EXPECT_EQ(b.code, 0) << b.all();
  EXPECT_TRUE(contains(b.all(), "waiting (at most 30 s) for the server sessions of a stopped swap restore of app"))
      << b.all();
  EXPECT_TRUE(contains(b.out, "dropped database " + late + ", left by a swap restore of app")) << b.all();
  EXPECT_EQ(leftovers(), "");
}

TEST_F(OncallLeftovers, CopiesInUseOfOtherDatabasesOrUnattributableAreNamedAndKept) {
  std::string mine_in_use = "ferry_restore_" + tag("app") + "_aaaa_0001";
  std::string others = "ferry_restore_" + tag("billing") + "_bbbb_0002";
  std::string old_style = "ferry_restore_cccc_0003";
  std::string replaced = "ferry_replaced_" + tag("app") + "_dddd_0004";
  for (const auto& d : {mine_in_use, others, old_style, replaced}) pg().exec("postgres", "CREATE DATABASE " + d);
  auto session = pg().connect(mine_in_use);  // a session in it: not provably unused
  auto b = project.ferry({"backup", "staging"});
  EXPECT_EQ(b.code, 0) << b.all();
  EXPECT_TRUE(contains(b.all(), "database " + mine_in_use + " (a swap restore's copy of app) is in use; kept"))
      << b.all();
  EXPECT_TRUE(contains(b.all(), "database " + old_style + " was left by a swap restore of an older ferry")) << b.all();
  EXPECT_TRUE(contains(b.all(), "database " + replaced + " holds what a swap restore replaced")) << b.all();
  EXPECT_FALSE(contains(b.all(), others)) << b.all();  // another database's: not this environment's business
  std::string kept = leftovers();
  for (const auto& d : {mine_in_use, others, old_style, replaced}) EXPECT_TRUE(contains(kept, d)) << kept;
}

}  // namespace
