// ferry_lock_wait_seconds (issue 10, item 4): a run that waited for another run's lock says so
// in its --metrics-file. Real PostgreSQL, two real ferry processes, prometheus_client's parser.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "support/fixtures.hpp"
#include "support/metrics.hpp"
#include "transport/transport.hpp"

using namespace ferry::test;

namespace {

class LockWaitMetric : public ::testing::Test {
 protected:
  static PgCluster& pg() {
    static PgCluster cluster;
    return cluster;
  }
  std::string value(const std::string& sql) { return pg().value("app", sql); }
  Project project;
};

}  // namespace

TEST_F(LockWaitMetric, ASecondRunThatWaitedWritesItsLockWait) {
  pg().create_db("app");
  project.env("dev", pg(), "app");
  Gate gate;  // the first run holds the lock until the second is seen waiting for it
  project.write("playbooks/promote.yaml",
                "stages: [dev]\nsteps:\n  - migrate\n  - run: {command: " + gate.command() + "}\n");
  project.migration("0001_slow", "CREATE TABLE slow (id int);", "DROP TABLE slow;");
  Background first({ferry_binary(), "-C", project.root(), "run", "promote"});
  EXPECT_TRUE(wait_until([&] {  // until the first run holds the lock
    return value("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 1717924466") == "1" &&
           value("SELECT count(*) FROM pg_tables WHERE schemaname = 'ferry' AND tablename = 'runs'") == "1" &&
           value("SELECT count(*) FROM ferry.runs WHERE outcome = 'running'") == "1";
  }));
  std::string metrics = project.path("ferry.prom");
  Background waiting(
      {ferry_binary(), "-C", project.root(), "--metrics-file", metrics, "run", "promote", "--wait-lock", "60s"});
  EXPECT_TRUE(waiting.wait_for_output("(--wait-lock)"));
  gate.open();
  auto second = waiting.wait();
  EXPECT_EQ(second.code, 0) << second.all();
  EXPECT_TRUE(contains(second.all(), "(--wait-lock)")) << second.all();  // it did wait
  EXPECT_EQ(first.wait().code, 0);

  auto m = prometheus_samples(project, metrics);
  ASSERT_FALSE(m.empty()) << project.read("ferry.prom");
  const std::string key = "ferry_lock_wait_seconds{environment=dev,playbook=promote}";
  ASSERT_TRUE(m.contains(key)) << project.read("ferry.prom");
  EXPECT_GT(m[key].get<double>(), 0) << project.read("ferry.prom");
}
