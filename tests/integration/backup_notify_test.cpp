// `ferry backup` tells the environment's webhooks and writes --metrics-file as a run does
// (issue 10, items 3/4 for commands other than `run`). Real PostgreSQL, the real ferry binary,
// a real HTTP receiver (python3) and prometheus_client's parser.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "support/fixtures.hpp"
#include "support/metrics.hpp"
#include "support/receiver.hpp"
#include "transport/transport.hpp"

namespace fs = std::filesystem;
using namespace ferry::test;
using nlohmann::json;

namespace {

class BackupNotify : public ::testing::Test {
 protected:
  static PgCluster& pg() {
    static PgCluster cluster;
    return cluster;
  }
  void SetUp() override {
    pg().create_db("app");
    pg().exec("app", "CREATE TABLE tasks (id int PRIMARY KEY); INSERT INTO tasks SELECT generate_series(1, 30);");
  }
  json metrics(const std::string& path) { return prometheus_samples(project, path); }
  Project project;
};

}  // namespace

TEST_F(BackupNotify, BackupCommandNotifiesAndWritesMetricsOnSuccessAndFailure) {
  WebhookReceiver hook;
  std::string dir = project.path("backups");
  project.env("dev", pg(), "app",
              "backup:\n  dir: backups\nnotify:\n  - url: " + hook.url() + "\n    on: [success, failure]\n");
  std::string prom = project.path("ferry.prom");
  auto r = project.ferry({"--metrics-file", prom, "backup", "dev"});
  ASSERT_EQ(r.code, 0) << r.all();
  auto got = hook.received();
  ASSERT_EQ(got.size(), 1u) << r.all();
  auto body = json::parse(json::parse(got[0])["body"].get<std::string>());
  EXPECT_EQ(body["outcome"], "succeeded");
  EXPECT_EQ(body["environment"], "dev");
  EXPECT_EQ(body["playbook"], "backup");
  EXPECT_TRUE(fs::exists(body["backup_file"].get<std::string>())) << body.dump();
  EXPECT_TRUE(fs::exists(dir + "/" + body["backup_id"].get<std::string>() + ".json")) << body.dump();
  auto m = metrics(prom);
  EXPECT_EQ(m["ferry_run_last_outcome{environment=dev,outcome=succeeded,playbook=backup}"], 1.0) << m.dump();
  EXPECT_GT(m["ferry_backup_last_size_bytes{environment=dev}"].get<double>(), 0) << m.dump();
  EXPECT_GT(m["ferry_backup_last_success_timestamp_seconds{environment=dev}"].get<double>(), 1.7e9);

  // A backup that fails (the database is gone): the receiver hears of it, the metrics say so.
  pg().exec("postgres", "DROP DATABASE app WITH (FORCE)");
  r = project.ferry({"--metrics-file", prom, "backup", "dev"});
  EXPECT_EQ(r.code, 1) << r.all();
  got = hook.received();
  ASSERT_EQ(got.size(), 2u) << r.all();
  body = json::parse(json::parse(got[1])["body"].get<std::string>());
  EXPECT_EQ(body["outcome"], "failed");
  EXPECT_FALSE(body["error"].get<std::string>().empty());
  m = metrics(prom);
  EXPECT_EQ(m["ferry_run_last_outcome{environment=dev,outcome=failed,playbook=backup}"], 1.0) << m.dump();
  EXPECT_EQ(m["ferry_run_last_exit_code{environment=dev,playbook=backup}"], 1.0) << m.dump();
}
