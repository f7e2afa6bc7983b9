// `ferry rollback` tells the environment's webhooks and writes --metrics-file as a run does
// (issue 10, item 3/4 for the on-call command). Real PostgreSQL, the real ferry binary, a real
// HTTP receiver (python3).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/fixtures.hpp"
#include "support/receiver.hpp"

using namespace ferry::test;
using nlohmann::json;

namespace {

class RollbackNotify : public ::testing::Test {
 protected:
  static PgCluster& pg() {
    static PgCluster cluster;
    return cluster;
  }
  void SetUp() override {
    pg().create_db("app");
    pg().exec("app", "CREATE TABLE tasks (id int PRIMARY KEY); INSERT INTO tasks SELECT generate_series(1, 30);");
  }
  Project project;
};

json body_of(const std::string& received) { return json::parse(json::parse(received)["body"].get<std::string>()); }

}  // namespace

TEST_F(RollbackNotify, RollbackNotifiesItsOutcomeAndADryRunSendsNothing) {
  WebhookReceiver hook;
  project.env("dev", pg(), "app",
              "backup:\n  dir: backups\nnotify:\n  - url: " + hook.url() + "\n    on: [success, failure]\n");
  auto b = project.ferry({"backup", "dev"});
  ASSERT_EQ(b.code, 0) << b.all();
  size_t after_backup = hook.received().size();
  pg().exec("app", "DELETE FROM tasks WHERE id > 10");

  auto dry = project.ferry({"rollback", "dev", "--backup", "latest", "--dry-run"});
  ASSERT_EQ(dry.code, 0) << dry.all();
  EXPECT_EQ(hook.received().size(), after_backup) << "a dry run changes nothing and tells no one";

  std::string prom = project.path("ferry.prom");
  auto r = project.ferry({"--metrics-file", prom, "rollback", "dev", "--backup", "latest", "--yes"});
  ASSERT_EQ(r.code, 0) << r.all();
  EXPECT_EQ(pg().value("app", "SELECT count(*) FROM tasks"), "30");
  auto got = hook.received();
  ASSERT_EQ(got.size(), after_backup + 1) << r.all();
  auto body = body_of(got.back());
  EXPECT_EQ(body["playbook"], "rollback");
  EXPECT_EQ(body["environment"], "dev");
  EXPECT_EQ(body["outcome"], "succeeded");
  EXPECT_FALSE(body["backup_id"].get<std::string>().empty()) << body.dump();
  EXPECT_NE(project.read("ferry.prom").find("playbook=\"rollback\""), std::string::npos) << project.read("ferry.prom");

  // A rollback that cannot run (the database is gone): the receiver hears of the failure.
  pg().exec("postgres", "DROP DATABASE app WITH (FORCE)");
  r = project.ferry({"rollback", "dev", "--backup", "latest", "--yes"});
  EXPECT_NE(r.code, 0) << r.all();
  got = hook.received();
  ASSERT_EQ(got.size(), after_backup + 2) << r.all();
  body = body_of(got.back());
  EXPECT_EQ(body["playbook"], "rollback");
  EXPECT_NE(body["outcome"], "succeeded");
  EXPECT_FALSE(body["error"].get<std::string>().empty()) << body.dump();
}
