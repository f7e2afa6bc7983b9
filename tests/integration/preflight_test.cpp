// The read-only preflight before the first change: a real long transaction in a second session
// (libpqxx) holding a lock on the table a migration touches is named (pid, application_name, age,
// query start) by `ferry lint`, refuses a protected environment (exit 3, nothing changed) and is
// only a warning elsewhere. Also another tool's migration lock.
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "support/fixtures.hpp"

using namespace ferry::test;
using nlohmann::json;

namespace {

class Preflight : public ::testing::Test {
 protected:
  static PgCluster& pg() {
    static PgCluster cluster;
    return cluster;
  }
  void SetUp() override {
    pg().create_db("app");
    pg().exec("app",
              "CREATE TABLE tasks (id bigserial PRIMARY KEY, title text);"
              "INSERT INTO tasks (title) SELECT 'task ' || g FROM generate_series(1, 50) g;");
    project.env("dev", pg(), "app");
    project.env("prod", pg(), "app", "protected: true\n");
    // CREATE INDEX takes SHARE: compatible with the reader's ACCESS SHARE, so dev can proceed.
    project.migration("0001_idx", "CREATE INDEX tasks_title ON tasks (title);", "DROP INDEX tasks_title;");
    for (std::string env : {"dev", "prod"})
      project.write("playbooks/" + env + ".yaml",
                    "stages: [" + env + "]\nsteps:\n  - migrate: {preflight_max_age: 1s}\n");
  }
  // A second session with an open transaction that read tasks (ACCESS SHARE), older than 1 s.
  std::unique_ptr<ferry::db::Connection> long_reader() {
    auto c = pg().connect("app");
    c->exec("SET application_name = 'nightly-report'");
    c->exec("BEGIN");
    c->exec("SELECT count(*) FROM tasks");
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // past preflight_max_age
    return c;
  }
  std::string index_exists() {
    return pg().value("app", "SELECT count(*) FROM pg_indexes WHERE indexname = 'tasks_title'");
  }
  Project project;
};

TEST_F(Preflight, LongTransactionOnAMigratedTableRefusesProtectedAndWarnsElsewhere) {
  auto reader = long_reader();
  std::string pid = reader->exec("SELECT pg_backend_pid()").text(0, 0);

  auto lint = project.ferry({"lint", "prod", "--json"});
  ASSERT_EQ(lint.code, 0) << lint.all();
  json j = json::parse(lint.out);
  ASSERT_EQ(j["targets"][0]["preflight"].size(), 1u) << j.dump(2);
  std::string p = j["targets"][0]["preflight"][0];
  EXPECT_TRUE(contains(p, "transaction open longer than 1.0s on a table the migrations touch: pid " + pid)) << p;
  EXPECT_TRUE(contains(p, "application_name 'nightly-report'")) << p;
  EXPECT_TRUE(contains(p, "query started ")) << p;
  EXPECT_TRUE(contains(p, "holds a lock on tasks (AccessShareLock)")) << p;
  auto plan = project.ferry({"plan", "prod"});
  EXPECT_TRUE(contains(plan.out, "preflight: transaction open longer than 1.0s")) << plan.all();

  auto r = project.ferry({"run", "prod", "--yes"});
  EXPECT_EQ(r.code, 3) << r.all();
  EXPECT_TRUE(contains(r.all(), "'prod' is protected and the preflight on 'prod'")) << r.all();
  EXPECT_TRUE(contains(r.all(), "pid " + pid + " (application_name 'nightly-report'")) << r.all();
  EXPECT_EQ(index_exists(), "0");
  EXPECT_EQ(pg().value("app", "SELECT count(*) FROM ferry.runs"), "0");

  r = project.ferry({"run", "dev"});
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_TRUE(contains(r.all(), "preflight on 'dev':")) << r.all();
  EXPECT_TRUE(contains(r.all(), "pid " + pid)) << r.all();
  EXPECT_EQ(index_exists(), "1");
  reader->exec("COMMIT");
}

TEST_F(Preflight, NothingInTheWayPasses) {
  auto r = project.ferry({"run", "prod", "--yes"});
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_FALSE(contains(r.all(), "preflight")) << r.all();
  EXPECT_EQ(index_exists(), "1");
}

TEST_F(Preflight, AnotherToolsMigrationLockRefusesProtected) {
  pg().exec("app", "CREATE TABLE flyway_schema_history (installed_rank int)");
  auto other = pg().connect("app");
  other->exec("SET application_name = 'flyway'");
  other->exec("BEGIN");
  other->exec("LOCK TABLE flyway_schema_history IN EXCLUSIVE MODE");
  auto r = project.ferry({"run", "prod", "--yes"});
  EXPECT_EQ(r.code, 3) << r.all();
  EXPECT_TRUE(contains(r.all(), "another tool's migration lock: pid")) << r.all();
  EXPECT_TRUE(contains(r.all(), "application_name 'flyway'")) << r.all();
  EXPECT_EQ(index_exists(), "0");
  other->exec("ROLLBACK");
  pg().exec("app", "DROP TABLE flyway_schema_history");
}

TEST_F(Preflight, ALockQueueOnAMigratedTableRefusesProtected) {
  auto reader = pg().connect("app");
  reader->exec("BEGIN");
  reader->exec("SELECT count(*) FROM tasks");
  // A second session queued behind the reader for ACCESS EXCLUSIVE on tasks.
  Background waiter({"/usr/bin/psql", "-X", "-h", "127.0.0.1", "-p", std::to_string(pg().port()), "-U", "postgres",
                     "-d", "app", "-c", "BEGIN", "-c", "LOCK TABLE tasks IN ACCESS EXCLUSIVE MODE", "-c", "COMMIT"},
                    {{"PGAPPNAME", "schema-change"}});
  auto queued = [&] {
    return pg().value("app",
                      "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
                      "WHERE a.application_name = 'schema-change' AND NOT l.granted");
  };
  ASSERT_TRUE(wait_until([&] { return queued() != "0"; }));
  ASSERT_EQ(queued(), "1");
  // lint reads sizes under a 1 s lock_timeout: it does not join the queue (tasks counts as large).
  auto lint = project.ferry({"lint", "prod"});
  EXPECT_EQ(lint.code, 3) << lint.all();
  EXPECT_TRUE(contains(lint.out, "preflight: lock queue on a table the migrations touch: pid")) << lint.all();
  EXPECT_TRUE(contains(lint.out, "FL020 high")) << lint.all();
  auto r = project.ferry({"run", "prod", "--yes"});
  EXPECT_EQ(r.code, 3) << r.all();
  EXPECT_TRUE(contains(r.all(), "lock queue on a table the migrations touch: pid")) << r.all();
  EXPECT_TRUE(contains(r.all(), "application_name 'schema-change'")) << r.all();
  EXPECT_TRUE(contains(r.all(), "AccessExclusiveLock waiting")) << r.all();
  EXPECT_EQ(index_exists(), "0");
  reader->exec("ROLLBACK");
  EXPECT_EQ(waiter.wait().code, 0);
}

}  // namespace
