// Fleets and connections (issue 13 item 6): what a fleet run holds on its server while its
// members run, watched in pg_stat_activity by application_name (ferry/RUN_ID/DATABASE), and a
// fleet reached through an SSH tunnel opening one SSH session for the whole run (sshd's log).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "support/fixtures.hpp"
#include "support/fleet.hpp"

using namespace ferry::test;
using nlohmann::json;

namespace {

const char* k_schema =
    "CREATE TABLE items (id int PRIMARY KEY, title text);"
    "INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 50) g;";

// The sessions named ferry/... on a cluster, sampled until stopped: the most at once, in
// total and per database, and every (application_name, database) pair seen.
class ActivityWatch {
 public:
  explicit ActivityWatch(PgCluster& pg) : m_conn(pg.connect("postgres")), m_thread([this] { loop(); }) {}
  ~ActivityWatch() { stop(); }
  void stop() {
    m_stop = true;
    if (m_thread.joinable()) m_thread.join();
  }
  int peak_total = 0;      // ferry/ sessions at once
  int peak_databases = 0;  // distinct databases with a ferry/ session at once
  int peak_per_database = 0;
  int samples = 0;
  std::set<std::pair<std::string, std::string>> seen;  // (application_name, datname)

 private:
  void loop() {
    while (!m_stop) {
      auto r =
          m_conn->exec("SELECT application_name, datname FROM pg_stat_activity WHERE application_name LIKE 'ferry/%'");
      std::map<std::string, int> per_db;
      for (int i = 0; i < r.rows(); ++i) {
        seen.insert({r.text(i, 0), r.text(i, 1)});
        ++per_db[r.text(i, 1)];
      }
      peak_total = std::max(peak_total, r.rows());
      peak_databases = std::max(peak_databases, static_cast<int>(per_db.size()));
      for (const auto& [db, n] : per_db) peak_per_database = std::max(peak_per_database, n);
      ++samples;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  std::unique_ptr<ferry::db::Connection> m_conn;
  std::atomic<bool> m_stop{false};
  std::thread m_thread;
};

class FleetConnections : public ::testing::Test {
 protected:
  static PgCluster& pg() {
    static PgCluster cluster;
    return cluster;
  }
  void SetUp() override {
    backups = temp_dir("ferry-fleetconn-backups");
    project.migration("0001_audit", "CREATE TABLE audit (id int);\nALTER TABLE items ADD COLUMN note text;",
                      "ALTER TABLE items DROP COLUMN note;\nDROP TABLE audit;");
  }
  void TearDown() override { std::filesystem::remove_all(backups); }
  bool migrated(const std::string& db) {
    return pg().value(db,
                      "SELECT count(*) FROM pg_attribute WHERE attrelid = 'items'::regclass AND attname = 'note' "
                      "AND NOT attisdropped") == "1";
  }

  Project project;
  std::string backups;
};

TEST_F(FleetConnections, ParallelFourHoldsAtMostTwoSessionsPerMemberNamedByRunAndDatabase) {
  auto names = make_fleet(pg(), numbered("conn_", 30), k_schema);
  project.write("environments/tenants.yaml",
                "database:\n  user: postgres\n  host: 127.0.0.1\n  port: " + std::to_string(pg().port()) +
                    "\n  discover: \"SELECT datname FROM pg_database WHERE datname LIKE "
                    "'conn\\\\_%' ORDER BY 1\"\nbackup:\n  dir: " +
                    backups + "\n");
  project.write("playbooks/promote.yaml",
                "stages: [tenants]\nfleet: {parallel: 4}\nsteps:\n  - backup\n  - migrate\n  - verify:\n"
                "      columns:\n        - items.note: text\n      row_counts: all\n");
  ActivityWatch watch(pg());
  auto r = project.ferry({"run", "promote", "--json"});
  watch.stop();
  ASSERT_EQ(r.code, 0) << r.all();
  for (const auto& n : names) EXPECT_TRUE(migrated(n)) << n;
  std::string run_id = json::parse(r.out)["fleets"][0]["run_id"];
  std::cout << "[ measured ] samples " << watch.samples << ", peak ferry/ sessions " << watch.peak_total
            << ", peak databases at once " << watch.peak_databases << ", peak per database " << watch.peak_per_database
            << "\n";
  // Every session a member opened (its own and its pg_dump's) names the run and its database.
  ASSERT_FALSE(watch.seen.empty());
  for (const auto& [app, db] : watch.seen) EXPECT_EQ(app, "ferry/" + run_id + "/" + db);
  EXPECT_LE(watch.peak_databases, 4);
  EXPECT_LE(watch.peak_per_database, 2);
  EXPECT_LE(watch.peak_total, 8);
}

TEST_F(FleetConnections, TunnelledFleetOfTenIsMigratedThroughOneSshSession) {
  SshServer sshd;
  if (!sshd.ok()) GTEST_SKIP() << "sshd tests need root";
  auto names = make_fleet(pg(), numbered("tun_", 10), k_schema);
  project.write("environments/tenants.yaml",
                "connections:\n" + sshd.connection_yaml("bastion") +
                    "database:\n  user: postgres\n  host: 127.0.0.1\n  port: " + std::to_string(pg().port()) +
                    "\n  tunnel: bastion\n  discover: \"SELECT datname FROM pg_database WHERE datname LIKE "
                    "'tun\\\\_%' ORDER BY 1\"\n");
  project.write("playbooks/promote.yaml",
                "stages: [tenants]\nfleet: {parallel: 4}\nsteps:\n  - migrate\n  - verify:\n"
                "      columns:\n        - items.note: text\n");
  int before = sshd.accepted_logins();
  auto r = project.ferry({"run", "promote"});
  ASSERT_EQ(r.code, 0) << r.all();
  for (const auto& n : names) EXPECT_TRUE(migrated(n)) << n;
  // Discovery and the ten members went through the parent's one tunnel: one handshake.
  EXPECT_EQ(sshd.accepted_logins() - before, 1) << sshd.log();
  EXPECT_TRUE(contains(r.all(), "10 ok")) << r.all();
}

TEST_F(FleetConnections, ADiscoveredFleetIsQueriedOnceByTheParentNotByEachMember) {
  auto names = make_fleet(pg(), numbered("once_", 6), k_schema);
  // The discovery query counts its own calls (a row each) in the postgres database.
  pg().exec("postgres",
            "DROP TABLE IF EXISTS discover_calls; CREATE TABLE discover_calls (at timestamptz DEFAULT now());"
            "CREATE OR REPLACE FUNCTION discover_once() RETURNS SETOF name LANGUAGE sql AS $$ INSERT INTO "
            "discover_calls DEFAULT VALUES; SELECT datname FROM pg_database WHERE datname LIKE 'once\\_%' "
            "ORDER BY 1 $$;");
  project.write("environments/tenants.yaml",
                "database:\n  user: postgres\n  host: 127.0.0.1\n  port: " + std::to_string(pg().port()) +
                    "\n  discover: SELECT discover_once()\nbackup:\n  dir: " + backups + "\n");
  project.write("playbooks/promote.yaml", "stages: [tenants]\nfleet: {parallel: 3}\nsteps:\n  - backup\n  - migrate\n");
  auto r = project.ferry({"run", "promote"});
  ASSERT_EQ(r.code, 0) << r.all();
  for (const auto& n : names) EXPECT_TRUE(migrated(n)) << n;
  EXPECT_EQ(pg().value("postgres", "SELECT count(*) FROM discover_calls"), "1");
}

}  // namespace
