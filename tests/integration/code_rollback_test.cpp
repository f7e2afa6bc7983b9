// Code rolls back with the schema: services.NAME.version read before the run, services.NAME.rollback
// run with FERRY_PREVIOUS_VERSION when a restart is undone. Real PostgreSQL, the real ferry binary
// and the real example backend.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>

#include "support/fixtures.hpp"
#include "transport/transport.hpp"

namespace fs = std::filesystem;
using namespace ferry::test;

namespace {

const char* k_base_schema =
    "CREATE TABLE tasks (id bigserial PRIMARY KEY, title text NOT NULL);"
    "INSERT INTO tasks (title) SELECT 'task ' || g FROM generate_series(1, 100) g;";

class CodeRollback : public ::testing::Test {
 protected:
  static PgCluster& pg() {
    static PgCluster cluster;
    return cluster;
  }
  void SetUp() override {
    pg().create_db("app");
    pg().exec("app", k_base_schema);
    backend = std::make_unique<Backend>(pg(), "app", "tasks.title");
    backups = temp_dir("ferry-code-backups");
    project.migration("0001_due_date", "ALTER TABLE tasks ADD COLUMN due_date timestamptz;",
                      "ALTER TABLE tasks DROP COLUMN due_date;");
    // The "deployed" code version lives in a file: a deploy step writes v2, the rollback v1 back.
    project.write("deployed", "v1\n");
    project.write("version.sh", "echo called >> version-calls\ncat deployed\n");
    project.write("deploy.sh", "echo v2 > deployed\n");
  }
  void TearDown() override { fs::remove_all(backups); }
  void write_env(const std::string& rollback_script) {
    project.write("rollback.sh", rollback_script);
    project.env("dev", pg(), "app",
                "backup:\n  dir: " + backups + "\nservices:\n  backend:\n    restart: " + backend->restart_command() +
                    "\n    version: sh version.sh\n    rollback: sh rollback.sh\n    health:\n      url: " +
                    backend->health_url() +
                    "\n      expect_body: '\"status\": \"ok\"'\n      timeout: 5s\n      interval: 100ms\n");
  }
  // deploy (a run step), migrate, restart, then a step that fails after the restart
  void failing_playbook() {
    project.write("playbooks/promote.yaml",
                  "stages: [dev]\nsteps:\n  - backup\n  - run: sh deploy.sh\n  - migrate\n  - restart: backend\n"
                  "  - sql: SELECT false\n");
  }
  bool healthy() {
    ferry::transport::LocalTransport t;
    auto r = t.run(ferry::transport::Command::shell("curl -s -o /dev/null -w '%{http_code}' " + backend->health_url()));
    return r.out == "200";
  }
  std::string due_date_columns() {
    return pg().value("app",
                      "SELECT count(*) FROM information_schema.columns WHERE table_name = 'tasks' AND "
                      "column_name = 'due_date'");
  }

  Project project;
  std::unique_ptr<Backend> backend;
  std::string backups;
};

TEST_F(CodeRollback, StepAfterRestartFailsAndTheCodeGoesBackToTheRecordedVersion) {
  write_env(
      "printf '%s\\n' \"$FERRY_PREVIOUS_VERSION\" > rolled-back-to\n"
      "printf '%s\\n' \"$FERRY_PREVIOUS_VERSION\" > deployed\n" +
      backend->restart_command() + "\n");
  failing_playbook();
  auto r = project.ferry({"run", "promote"});
  EXPECT_EQ(r.code, 1) << r.all();
  // read once, before the deploy step changed it
  EXPECT_EQ(project.read("version-calls"), "called\n");
  EXPECT_TRUE(contains(r.out, "version backend")) << r.out;
  EXPECT_TRUE(contains(r.out, "v1")) << r.out;
  ASSERT_TRUE(project.exists("rolled-back-to")) << r.all();
  EXPECT_EQ(project.read("rolled-back-to"), "v1\n");
  EXPECT_EQ(project.read("deployed"), "v1\n");
  EXPECT_TRUE(contains(r.out, "rolled back to v1")) << r.out;
  EXPECT_EQ(due_date_columns(), "0");
  EXPECT_EQ(pg().value("app", "SELECT count(*) FROM tasks"), "100");
  EXPECT_TRUE(contains(r.out, "backend healthy")) << r.out;  // the proof includes health
  EXPECT_TRUE(healthy());
}

TEST_F(CodeRollback, FailingRollbackCommandNeedsAHuman) {
  write_env("echo 'registry unreachable: image v1 not found' >&2\nexit 3\n");
  failing_playbook();
  auto r = project.ferry({"run", "promote"});
  EXPECT_EQ(r.code, 2) << r.all();
  EXPECT_TRUE(contains(r.all(), "rollback of 'backend' (sh rollback.sh) exited with 3")) << r.all();
  EXPECT_TRUE(contains(r.all(), "registry unreachable: image v1 not found")) << r.all();
  EXPECT_TRUE(contains(r.all(), "a human must act")) << r.all();
}

}  // namespace
