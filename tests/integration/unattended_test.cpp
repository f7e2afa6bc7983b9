// Unattended runs (issue 10): waiting for another run's lock, waiting for a database that is
// still starting, and environments the command does not touch not stopping it.
#include <gtest/gtest.h>

#include <thread>

#include "support/fixtures.hpp"

using namespace ferry::test;

namespace {

class Unattended : public ::testing::Test {
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
  std::string value(const std::string& sql) { return pg().value("app", sql); }
  // Starts a first run that holds the lock until `gate` opens (a step waiting on it, after the
  // migration; a fixed sleep could end before a slow second run even asked), and returns once
  // it holds the lock.
  std::unique_ptr<Background> first_run_holding_the_lock() {
    project.migration("0001_slow", "CREATE TABLE slow (id int);", "DROP TABLE slow;");
    project.write("playbooks/promote.yaml",
                  "stages: [dev]\nsteps:\n  - migrate\n  - run: {command: " + gate.command() + "}\n");
    auto first =
        std::make_unique<Background>(std::vector<std::string>{ferry_binary(), "-C", project.root(), "run", "promote"},
                                     std::map<std::string, std::string>{{"FERRY_OPERATOR", "alice"}});
    EXPECT_TRUE(wait_until([&] {
      return value("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 1717924466") == "1" &&
             value("SELECT count(*) FROM pg_tables WHERE schemaname = 'ferry' AND tablename = 'runs'") == "1" &&
             value("SELECT count(*) FROM ferry.runs WHERE outcome = 'running'") == "1";
    })) << "the first run never held the lock";
    return first;
  }
  Project project;
  Gate gate;
};

TEST_F(Unattended, SecondRunWaitsForTheLockThenSucceeds) {
  auto first = first_run_holding_the_lock();
  std::string first_id = value("SELECT id FROM ferry.runs WHERE operator = 'alice'");
  Background waiting({ferry_binary(), "-C", project.root(), "run", "promote", "--wait-lock", "60s"},
                     {{"FERRY_OPERATOR", "bob"}});
  EXPECT_TRUE(waiting.wait_for_output("(--wait-lock)"));
  gate.open();  // the first run ends only once the second is waiting
  auto second = waiting.wait();
  EXPECT_EQ(second.code, 0) << second.all();
  EXPECT_TRUE(contains(second.all(), "environment 'dev' is locked by run " + first_id + " by alice")) << second.all();
  EXPECT_TRUE(contains(second.all(), "waiting up to 1m00s (--wait-lock)") || contains(second.all(), "(--wait-lock)"))
      << second.all();
  auto done = first->wait();
  EXPECT_EQ(done.code, 0) << done.all();
  EXPECT_EQ(value("SELECT count(*) FROM ferry.runs WHERE outcome = 'succeeded'"), "2");
  EXPECT_EQ(value("SELECT count(*) FROM ferry.runs WHERE operator = 'bob' AND outcome = 'succeeded'"), "1");
  EXPECT_EQ(value("SELECT count(*) FROM ferry.migrations"), "1");
}

TEST_F(Unattended, WaitLockEndsWithExit3NamingTheHolder) {
  project.env("dev", pg(), "app", "backup:\n  dir: backups\n");
  auto first = first_run_holding_the_lock();
  std::string first_id = value("SELECT id FROM ferry.runs WHERE operator = 'alice'");
  auto second = project.ferry({"backup", "dev", "--wait-lock", "1s"}, {{"FERRY_OPERATOR", "bob"}});
  gate.open();
  EXPECT_EQ(second.code, 3) << second.all();
  EXPECT_TRUE(contains(second.all(), "environment 'dev' is locked by run " + first_id + " by alice")) << second.all();
  EXPECT_TRUE(contains(second.all(), "(waited 1.0s)") || contains(second.all(), "(waited 1s)")) << second.all();
  EXPECT_EQ(first->wait().code, 0);
  EXPECT_EQ(value("SELECT count(*) FROM ferry.runs WHERE operator = 'bob'"), "0");
}

TEST_F(Unattended, DatabaseStartedAfterFerryIsWaitedFor) {
  PgCluster late;
  late.create_db("late");
  late.exec("late", "SELECT 1");
  project.env("dev", late, "late", "  connect_timeout: 2s\n");
  project.migration("0001_a", "CREATE TABLE a (id int);", "DROP TABLE a;");
  late.stop();
  auto refused = project.ferry({"run", "promote"});
  EXPECT_EQ(refused.code, 1) << refused.all();  // without --wait-ready: one attempt
  Background run({ferry_binary(), "-C", project.root(), "run", "promote", "--wait-ready", "60s"});
  // ferry finds it down first (a fixed 1.5 s was not always enough for a slow ferry to try)
  EXPECT_TRUE(run.wait_for_output("database not ready")) << "ferry never tried the stopped database";
  late.start();
  auto done = run.wait();
  EXPECT_EQ(done.code, 0) << done.all();
  EXPECT_TRUE(contains(done.all(), "database not ready")) << done.all();
  EXPECT_TRUE(contains(done.all(), "database ready after")) << done.all();
  EXPECT_EQ(late.value("late", "SELECT count(*) FROM ferry.migrations"), "1");
}

TEST_F(Unattended, UnsetSecretOfAnotherEnvironmentDoesNotStopDev) {
  project.env("production", pg(), "prod", "  password: ${secret:FERRY_TEST_UNSET_PROD_PW}\nrequires: [dev]\n");
  project.write("environments/staging.yaml",
                "database:\n  name: staging\n  host: 127.0.0.1\n  password_file: /nonexistent/ferry/pw\n");
  project.write("playbooks/all.yaml", "stages: [dev, staging, production]\nsteps:\n  - migrate\n");
  project.migration("0001_a", "CREATE TABLE a (id int);", "DROP TABLE a;");
  project.env("dev", pg(), "app", "backup:\n  dir: backups\n");

  auto backup = project.ferry({"backup", "dev"});
  EXPECT_EQ(backup.code, 0) << backup.all();
  auto run = project.ferry({"run", "promote"});
  EXPECT_EQ(run.code, 0) << run.all();
  EXPECT_EQ(value("SELECT count(*) FROM ferry.migrations"), "1");
  auto only_dev = project.ferry({"run", "all", "--env", "dev"});
  EXPECT_EQ(only_dev.code, 0) << only_dev.all();
  auto status = project.ferry({"status", "--env", "dev"});
  EXPECT_EQ(status.code, 0) << status.all();

  // What acts on production still needs its secret, and validate reports it.
  auto prod = project.ferry({"run", "all", "--env", "production", "--yes"});
  EXPECT_EQ(prod.code, 64) << prod.all();
  EXPECT_TRUE(contains(prod.all(), "FERRY_TEST_UNSET_PROD_PW")) << prod.all();
  auto validate = project.ferry({"validate"});
  EXPECT_EQ(validate.code, 64) << validate.all();
  EXPECT_TRUE(contains(validate.all(), "FERRY_TEST_UNSET_PROD_PW")) << validate.all();
  // A schema error in an untouched file still stops every command.
  project.write("environments/staging.yaml", "database:\n  name: staging\n  colour: blue\n");
  auto broken = project.ferry({"backup", "dev"});
  EXPECT_EQ(broken.code, 64) << broken.all();
  EXPECT_TRUE(contains(broken.all(), "colour")) << broken.all();
}

TEST_F(Unattended, ScheduleHandsPasswordFilesOverAsCredentials) {
  project.write("environments/production.yaml",
                "protected: true\ndatabase:\n  name: app\n  password_file: secrets/prod.pw\n");
  project.write("playbooks/nightly.yaml", "stages: [production]\nsteps:\n  - migrate\n");
  auto r = project.ferry({"schedule", "nightly", "--every", "hourly", "--user", "deploy"});
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_TRUE(contains(r.out, "LoadCredential=production.password:" + project.path("secrets/prod.pw") + "\n")) << r.out;
  EXPECT_TRUE(contains(r.out, "User=deploy\n")) << r.out;
  EXPECT_TRUE(contains(r.out, "\n@hourly ")) << r.out;
  EXPECT_TRUE(contains(r.out, " -q run nightly --wait-lock 30m --wait-ready 2m --yes\n")) << r.out;

  // Under systemd the credential stands in for the file, which the service's user cannot read.
  EXPECT_EQ(project.ferry({"validate"}).code, 64);
  project.write("creds/production.password", "pw\n");
  auto v = project.ferry({"validate"}, {{"CREDENTIALS_DIRECTORY", project.path("creds")}});
  EXPECT_EQ(v.code, 0) << v.all();
}

}  // namespace
