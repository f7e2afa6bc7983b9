// The preflight's replica-lag check against a real streaming replica: a hot standby made with
// pg_basebackup -R, reporting as 'reporting-replica', replaying with recovery_min_apply_delay
// = 60s, so its replay lag is real and grows while the primary commits.
//
// What pg_stat_replication.replay_lag really does (PostgreSQL 15, measured while writing this):
// it is NULL until the standby has replied once after WAL was sent; while the delayed standby
// holds its replay position at the first commit it has not applied, the walsender interpolates
// and replay_lag grows with the wall clock (now minus when that WAL was sent), so it counts from
// the first unapplied commit. It is recomputed only when the standby replies: at once when new
// WAL arrives, else every wal_receiver_status_interval (10s): on an idle primary the value grows
// in 10 s steps (read up to 10 s late). It goes NULL again once write, flush and replay have all
// caught up. Not seen at all: a standby that is not connected (one restarting replays its local
// WAL, delay included, before its walreceiver connects: absent from pg_stat_replication for the
// whole minute), and after a reconnect the lag counts from when the WAL was sent again.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "support/fixtures.hpp"

using namespace ferry::test;
using nlohmann::json;

namespace {

class ReplicaLag : public ::testing::Test {
 protected:
  static PgCluster& pg() {
    static PgCluster cluster;
    return cluster;
  }
  void SetUp() override {
    pg().create_db("app");
    pg().exec("app", "CREATE TABLE tasks (id bigserial PRIMARY KEY, title text)");
    standby = std::make_unique<Standby>(pg(), "reporting-replica", "60s");
    project.env("dev", pg(), "app");
    project.env("prod", pg(), "app", "protected: true\n");
    project.migration("0001_notes", "CREATE TABLE notes (id int);", "DROP TABLE notes;");
  }
  void TearDown() override { standby.reset(); }  // stops the standby

  void playbook(const std::string& env, const std::string& max_lag) {
    project.write("playbooks/" + env + ".yaml",
                  "stages: [" + env + "]\nsteps:\n  - migrate: {preflight_max_lag: " + max_lag + "}\n");
  }
  // Commits on the primary (each one WAL the delayed standby receives and does not replay) until
  // the primary reports the standby's replay_lag over `seconds`; bounded at 60 s. The lag as read.
  double commit_until_lag_over(double seconds) {
    auto writer = pg().connect("app");
    for (int i = 0; i < 300; ++i) {
      writer->exec("INSERT INTO tasks (title) VALUES ('wal')");
      auto r = writer->exec(
          "SELECT coalesce(extract(epoch FROM replay_lag)::float8, 0) FROM pg_stat_replication "
          "WHERE application_name = 'reporting-replica'");
      double lag = r.rows() ? std::stod(r.text(0, 0)) : 0;
      if (lag > seconds) return lag;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    ADD_FAILURE() << "replay_lag never went over " << seconds << " s";
    return 0;
  }
  std::string on_standby(const std::string& sql) {
    ferry::db::ConnectParams p;
    p.host = "127.0.0.1";
    p.port = standby->port();
    p.dbname = "app";
    p.user = "postgres";
    return ferry::db::Connection(p).exec(sql).text(0, 0);
  }
  std::string notes_exists() { return pg().value("app", "SELECT count(*) FROM pg_tables WHERE tablename = 'notes'"); }

  Project project;
  std::unique_ptr<Standby> standby;
};

// "replica 'reporting-replica' (127.0.0.1) replay lag 3.4 s, over 2.0s"
const std::regex k_finding(R"(replica 'reporting-replica' \(127\.0\.0\.1\) replay lag [0-9]+\.[0-9] s, over 2\.0s)");

TEST_F(ReplicaLag, ALaggingReplicaRefusesProtectedAndWarnsElsewhere) {
  playbook("prod", "2s");
  playbook("dev", "2s");
  commit_until_lag_over(2.5);
  // The standby is real: in recovery, and behind the primary's rows.
  EXPECT_EQ(on_standby("SELECT pg_is_in_recovery()"), "t");
  EXPECT_LT(std::stoi(on_standby("SELECT count(*) FROM tasks")),
            std::stoi(pg().value("app", "SELECT count(*) FROM tasks")));

  auto lint = project.ferry({"lint", "prod", "--json"});
  ASSERT_EQ(lint.code, 0) << lint.all();
  json j = json::parse(lint.out);
  ASSERT_EQ(j["targets"][0]["preflight"].size(), 1u) << j.dump(2);
  EXPECT_TRUE(std::regex_search(j["targets"][0]["preflight"][0].get<std::string>(), k_finding)) << j.dump(2);
  auto plan = project.ferry({"plan", "prod"});
  EXPECT_TRUE(std::regex_search(plan.out, std::regex("preflight: replica 'reporting-replica'"))) << plan.all();
  EXPECT_TRUE(std::regex_search(plan.out, k_finding)) << plan.all();

  auto r = project.ferry({"run", "prod", "--yes"});
  EXPECT_EQ(r.code, 3) << r.all();
  EXPECT_TRUE(contains(r.all(), "'prod' is protected and the preflight on 'prod'")) << r.all();
  EXPECT_TRUE(std::regex_search(r.all(), k_finding)) << r.all();
  EXPECT_EQ(notes_exists(), "0");
  EXPECT_EQ(pg().value("app", "SELECT count(*) FROM ferry.runs"), "0");

  commit_until_lag_over(2.5);  // still lagging (the delay is a minute)
  r = project.ferry({"run", "dev"});
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_TRUE(contains(r.all(), "preflight on 'dev':")) << r.all();
  EXPECT_TRUE(std::regex_search(r.all(), k_finding)) << r.all();
  EXPECT_EQ(notes_exists(), "1");
}

TEST_F(ReplicaLag, AThresholdAboveTheLagPasses) {
  playbook("prod", "10m");
  double lag = commit_until_lag_over(2.5);
  ASSERT_GT(lag, 2.5);
  auto r = project.ferry({"run", "prod", "--yes"});
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_FALSE(contains(r.all(), "preflight")) << r.all();
  EXPECT_EQ(notes_exists(), "1");
}

// Without pg_read_all_stats (pg_monitor) a role sees the replica's row with its lag NULL: the
// preflight says so (a protected environment refuses) rather than passing as if there were no lag.
TEST_F(ReplicaLag, ARoleThatCannotReadTheLagIsToldSoAndProtectedRefuses) {
  pg().exec("postgres",
            "DO $$BEGIN CREATE ROLE deployer LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END$$;"
            "REVOKE pg_monitor FROM deployer");
  pg().exec("app", "GRANT CREATE ON DATABASE app TO deployer; GRANT CREATE ON SCHEMA public TO deployer");
  project.write("environments/prod.yaml",
                "protected: true\ndatabase:\n  name: app\n  user: deployer\n"
                "  host: 127.0.0.1\n  port: " +
                    std::to_string(pg().port()) + "\n");
  playbook("prod", "2s");
  commit_until_lag_over(2.5);

  auto r = project.ferry({"run", "prod", "--yes"});
  EXPECT_EQ(r.code, 3) << r.all();
  EXPECT_TRUE(contains(r.all(),
                       "replica 'reporting-replica': this role cannot read its replay lag in "
                       "pg_stat_replication (grant it pg_monitor)"))
      << r.all();
  EXPECT_EQ(notes_exists(), "0");

  pg().exec("postgres", "GRANT pg_monitor TO deployer");
  commit_until_lag_over(2.5);
  r = project.ferry({"run", "prod", "--yes"});
  EXPECT_EQ(r.code, 3) << r.all();
  EXPECT_TRUE(std::regex_search(r.all(), k_finding)) << r.all();
  EXPECT_FALSE(contains(r.all(), "cannot read")) << r.all();
  EXPECT_EQ(notes_exists(), "0");
  pg().exec("postgres", "REVOKE pg_monitor FROM deployer");
}

}  // namespace
