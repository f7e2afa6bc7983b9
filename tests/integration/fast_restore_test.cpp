// The swap restore (backup.restore: swap): pg_restore -j into a new database, proven, swapped in
// by name; attacked: pg_restore cut off mid-way, a failed proof, a session that will
// not leave. And the one-transaction restore, still the default. Real PostgreSQL, the real
// ferry binary, real backup files.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/text.hpp"
#include "support/fixtures.hpp"
#include "transport/transport.hpp"

namespace fs = std::filesystem;
using namespace ferry::test;
using nlohmann::json;

namespace {

class FastRestore : public ::testing::Test {
 protected:
  static PgCluster& pg() {
    static PgCluster cluster;
    return cluster;
  }
  void SetUp() override {
    pg().exec(
        "postgres",
        "DO $$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'app_owner') THEN CREATE ROLE app_owner "
        "LOGIN CREATEDB; CREATE ROLE app_reader LOGIN; END IF; END$$");
    pg().exec("postgres", "DROP DATABASE IF EXISTS app WITH (FORCE)");
    pg().exec("postgres", "CREATE DATABASE app OWNER app_owner");
    backups = temp_dir("ferry-fast-restore");
  }
  void TearDown() override { fs::remove_all(backups); }
  // The environment, connecting as `user`, restoring as `restore` says.
  void env(const std::string& restore, const std::string& user = "postgres") {
    project.write("environments/staging.yaml", "database:\n  name: app\n  user: " + user +
                                                   "\n  host: 127.0.0.1\n  port: " + std::to_string(pg().port()) +
                                                   "\nbackup:\n  dir: " + backups + "\n  restore: " + restore + "\n");
    project.write("playbooks/p.yaml", "stages: [staging]\nsteps: [backup, migrate]\n");
  }
  std::string q(const std::string& sql, const std::string& db = "app") { return pg().value(db, sql); }
  std::string oid() { return q("SELECT oid FROM pg_database WHERE datname = 'app'", "postgres"); }
  std::string leftovers() {
    return q("SELECT string_agg(datname, ',') FROM pg_database WHERE datname LIKE 'ferry\\_re%'", "postgres");
  }
  // 0001 (tasks, `rows` rows) then 0002 (notes), each by a run with its backup first.
  void two_releases(int rows) {
    project.migration("0001_tasks",
                      "CREATE TABLE tasks (id serial PRIMARY KEY, title text NOT NULL);"
                      "CREATE INDEX tasks_title ON tasks (title);"
                      "INSERT INTO tasks (title) SELECT md5(g::text) FROM generate_series(1, " +
                          std::to_string(rows) + ") g;",
                      "DROP TABLE tasks;");
    auto r1 = project.ferry({"run", "p"});
    ASSERT_EQ(r1.code, 0) << r1.all();
    project.migration("0002_notes", "CREATE TABLE notes (id int);", "DROP TABLE notes;");
    auto r2 = project.ferry({"run", "p"});
    ASSERT_EQ(r2.code, 0) << r2.all();
    pg().exec("app", "INSERT INTO tasks (title) VALUES ('after the release')");
  }

  Project project;
  std::string backups;
};

TEST_F(FastRestore, SwapKeepsNameOwnerGrantsSettingsAndComment) {
  env("swap");
  pg().exec("postgres",
            "REVOKE ALL ON DATABASE app FROM PUBLIC; GRANT CONNECT ON DATABASE app TO app_reader; COMMENT ON DATABASE "
            "app IS 'the application''s'; ALTER DATABASE app CONNECTION LIMIT 40; ALTER DATABASE app SET work_mem = "
            "'8MB'");
  two_releases(2000);
  std::string acl = q("SELECT datacl::text FROM pg_database WHERE datname = 'app'", "postgres");
  std::string before = oid();
  auto r = project.ferry({"rollback", "staging", "--backup", "before:0002"});
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_NE(oid(), before) << "restored by swap: a new database under the same name";
  for (int i = 0; i < 600 && !leftovers().empty(); ++i)  // the replaced one is dropped in the background
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(leftovers(), "");
  EXPECT_EQ(q("SELECT pg_get_userbyid(datdba) || ' ' || datconnlimit || ' ' || datallowconn FROM pg_database WHERE "
              "datname = 'app'",
              "postgres"),
            "app_owner 40 true");
  EXPECT_EQ(q("SELECT datacl::text FROM pg_database WHERE datname = 'app'", "postgres"), acl);
  EXPECT_EQ(q("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = 'app'", "postgres"),
            "the application's");
  EXPECT_EQ(q("SELECT array_to_string(setconfig, ',') FROM pg_db_role_setting s JOIN pg_database d ON d.oid = "
              "s.setdatabase WHERE d.datname = 'app' AND s.setrole = 0",
              "postgres"),
            "work_mem=8MB");
  EXPECT_EQ(q("SELECT count(*) FROM tasks"), "2000");
  EXPECT_EQ(q("SELECT to_regclass('notes') IS NULL"), "t");
  EXPECT_EQ(q("SELECT string_agg(version, ',' ORDER BY version) FROM ferry.migrations"), "0001");
  EXPECT_EQ(q("SELECT count(*) FROM ferry.history WHERE version = '0002' AND action = 'reverted'"), "1");
  EXPECT_EQ(q("SELECT count(*) FROM ferry.runs"), "3");  // the two runs and this rollback, kept
  EXPECT_EQ(q("SELECT outcome FROM ferry.runs WHERE playbook = 'rollback'"), "succeeded");
}

// pg_restore cut off mid-COPY: its server session terminated (as a crash of pg_restore or of
// its connection would), found in pg_stat_activity rather than by process name.
TEST_F(FastRestore, PgRestoreCutOffMidCopyLeavesTheOriginalAndDropsTheScratch) {
  env("swap");
  two_releases(800000);
  std::string before = oid();
  Background bg({ferry_binary(), "-C", project.root(), "rollback", "staging", "--backup", "before:0002"});
  std::string killed;
  wait_until([&] {
    killed =
        q("SELECT string_agg(pg_terminate_backend(pid)::text, ',') FROM pg_stat_activity WHERE datname LIKE "
          "'ferry\\_restore\\_%' AND application_name = 'pg_restore' AND query ILIKE 'COPY%'",
          "postgres");
    return !killed.empty();
  });
  auto r = bg.wait();
  ASSERT_FALSE(killed.empty()) << "pg_restore was never seen copying\n" << r.all();
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(r.out.find("the database is as it was") != std::string::npos) << r.out;
  EXPECT_EQ(oid(), before);
  EXPECT_EQ(leftovers(), "");
  EXPECT_EQ(q("SELECT datallowconn FROM pg_database WHERE datname = 'app'", "postgres"), "t");
  EXPECT_EQ(q("SELECT to_regclass('notes') IS NOT NULL"), "t");
  EXPECT_EQ(q("SELECT count(*) FROM tasks"), "800001");
}

TEST_F(FastRestore, AFailedProofOfTheNewDatabaseMeansNoSwap) {
  env("swap");
  two_releases(100);
  // The sidecar of the backup before 0002 now claims a row the dump does not hold.
  std::string id = json::parse(project.ferry({"backups", "staging", "--json"}).out)[0]["id"];
  std::string sidecar = backups + "/" + id + ".json";
  json j;
  {
    std::ifstream in(sidecar);
    j = json::parse(in);
  }
  j["row_counts"]["public.tasks"] = 101;
  { std::ofstream(sidecar, std::ios::trunc) << j.dump(2); }
  std::string before = oid();
  auto r = project.ferry({"rollback", "staging", "--backup", id});
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(r.out.find("does not have the backup's row counts; nothing was swapped") != std::string::npos) << r.out;
  EXPECT_EQ(oid(), before);
  EXPECT_EQ(leftovers(), "");
  EXPECT_EQ(q("SELECT to_regclass('notes') IS NOT NULL"), "t");
  EXPECT_EQ(q("SELECT count(*) FROM tasks"), "101");
}

TEST_F(FastRestore, ASessionThatWillNotLeaveMeansOneTransactionInstead) {
  env("swap", "app_owner");
  two_releases(100);
  auto holdout = pg().connect("app");  // a superuser's session: app_owner may not end it
  holdout->exec("SELECT 1");
  std::string before = oid();
  auto r = project.ferry({"rollback", "staging", "--backup", "before:0002"});
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_TRUE(r.all().find("did not leave within") != std::string::npos) << r.all();
  EXPECT_TRUE(r.all().find("restoring in one transaction instead") != std::string::npos) << r.all();
  EXPECT_EQ(oid(), before) << "restored in place";
  EXPECT_EQ(leftovers(), "");
  EXPECT_TRUE(holdout->alive());
  EXPECT_EQ(q("SELECT to_regclass('notes') IS NULL"), "t");
  EXPECT_EQ(q("SELECT count(*) FROM tasks"), "100");
}

TEST_F(FastRestore, OneTransactionStaysTheDefault) {
  env("transaction");
  two_releases(100);
  std::string before = oid();
  auto r = project.ferry({"rollback", "staging", "--backup", "before:0002"});
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_EQ(oid(), before);
  EXPECT_EQ(q("SELECT to_regclass('notes') IS NULL"), "t");
  EXPECT_EQ(q("SELECT count(*) FROM tasks"), "100");
}

}  // namespace

namespace {

// A restore's progress: a plain line when output is not a terminal (the interval set to 0 s here
// so that any restore shows one), an updating line at a terminal, with and without colour.
class RestoreProgress : public FastRestore {
 protected:
  ferry::transport::CommandResult at_tty(const std::string& flags) {
    ferry::transport::LocalTransport t;
    ferry::transport::Command c =
        ferry::transport::Command::shell("script -qec " +
                                         ferry::shell_quote(ferry_binary() + " -C " + project.root() + flags +
                                                            " rollback staging --backup before:0002") +
                                         " /dev/null");
    return t.run(c);
  }
};

TEST_F(RestoreProgress, APlainLineWhenOutputIsNotATerminal) {
  env("swap");
  two_releases(400000);
  auto r = project.ferry({"rollback", "staging", "--backup", "before:0002"}, {{"FERRY_PROGRESS_INTERVAL", "0"}});
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_TRUE(contains(r.out, "\n  ..      restore")) << r.out;
  EXPECT_TRUE(contains(r.out, " elapsed")) << r.out;
  EXPECT_FALSE(contains(r.out, "\r")) << "no line rewriting in a log";
}

TEST_F(RestoreProgress, OneTransactionRestoreShowsProgressToo) {
  env("transaction");
  two_releases(400000);
  auto r = project.ferry({"rollback", "staging", "--backup", "before:0002"}, {{"FERRY_PROGRESS_INTERVAL", "0"}});
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_TRUE(contains(r.out, "\n  ..      restore")) << r.out;
  EXPECT_TRUE(contains(r.out, " one transaction, ")) << r.out;
}

TEST_F(RestoreProgress, AnUpdatingLineAtATerminalWithAndWithoutColour) {
  if (system("command -v script >/dev/null") != 0) GTEST_SKIP() << "needs script(1)";
  env("swap");
  two_releases(400000);
  auto colour = at_tty("");
  EXPECT_EQ(colour.exit_code, 0) << colour.out;
  EXPECT_TRUE(contains(colour.out, "\r\033[K")) << colour.out;
  EXPECT_TRUE(contains(colour.out, " elapsed")) << colour.out;
  project.migration("0002_notes", "CREATE TABLE notes (id int);", "DROP TABLE notes;");
  ASSERT_EQ(project.ferry({"run", "p"}).code, 0);
  auto plain = at_tty(" --no-color");
  EXPECT_EQ(plain.exit_code, 0) << plain.out;
  EXPECT_TRUE(contains(plain.out, "\r  ..      restore")) << plain.out;
  EXPECT_TRUE(contains(plain.out, " elapsed")) << plain.out;
  EXPECT_FALSE(contains(plain.out, "\033[")) << "no escape codes without colour";
}

}  // namespace
