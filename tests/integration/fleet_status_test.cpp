// `ferry status --env FLEET` on a fleet of 50 real databases plus one that does not exist: the
// histogram of versions, and the members behind, with drift, locked (by whom) and unreachable,
// as text and as --json (every member), with the exit codes of `status` and `status --check`.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "support/fixtures.hpp"

using namespace ferry::test;
using nlohmann::json;

namespace {

std::set<std::string> as_set(const json& names) {
  std::set<std::string> out;
  for (const auto& n : names) out.insert(n.is_string() ? n.get<std::string>() : n["name"].get<std::string>());
  return out;
}

struct StatusFleet {
  PgCluster pg;
  Project p;
  std::vector<std::string> names;  // the 50 real ones
  StatusFleet() {
    pg.create_db("fleet_tpl");
    pg.exec("fleet_tpl", "CREATE TABLE accounts (id bigserial PRIMARY KEY, email text NOT NULL)");
    for (int i = 0; i < 50; ++i) {
      names.push_back((i < 10 ? "db_0" : "db_") + std::to_string(i));
      pg.exec("postgres", "CREATE DATABASE " + names.back() + " TEMPLATE fleet_tpl");
    }
    json list = names;
    list.push_back("db_ghost");  // listed, never created: unreachable
    p.write("environments/fleet.yaml",
            "database:\n  names: " + list.dump() +
                "\n  user: postgres\n  host: 127.0.0.1\n  port: " + std::to_string(pg.port()) + "\n");
    p.write("playbooks/go.yaml",
            "migrations: migrations\nstages: [fleet]\nfleet:\n  parallel: 4\n"
            "  max_failures: 100%\nsteps:\n  - migrate\n");
    p.migration("0001_orders", "CREATE TABLE orders (id bigserial PRIMARY KEY);\n", "DROP TABLE orders;\n");
  }
};

}  // namespace

TEST(FleetStatus, HistogramBehindDriftLockedAndUnreachableAsTextAndJson) {
  StatusFleet f;
  // 0001 everywhere (db_ghost fails: the run says so), then 0002 on the first 40 only.
  auto r1 = f.p.ferry({"run", "go", "--yes"});
  EXPECT_NE(r1.code, 0) << r1.all();
  f.p.migration("0002_note", "ALTER TABLE accounts ADD COLUMN note text;\n",
                "ALTER TABLE accounts DROP COLUMN note;\n");
  std::string first40;
  for (int i = 0; i < 40; ++i) first40 += (i ? "," : "") + f.names[i];
  auto r2 = f.p.ferry({"run", "go", "--yes", "--only", first40});
  ASSERT_EQ(r2.code, 0) << r2.all();
  // db_07: an applied migration's file no longer matches the ledger (drift); db_08: a session
  // holds ferry's lock.
  f.pg.exec("db_07", "UPDATE ferry.migrations SET checksum = 'edited' WHERE version = '0001'");
  auto holder = f.pg.connect("db_08");
  holder->exec("SELECT pg_advisory_lock(1717924466, 1)");
  std::string holder_pid = holder->exec("SELECT pg_backend_pid()").text(0, 0);

  auto js = f.p.ferry({"status", "--env", "fleet", "--json"});
  EXPECT_EQ(js.code, 1) << "a member is unreachable: " << js.all();
  auto doc = json::parse(js.out);
  EXPECT_EQ(doc["schema_version"], 1);
  EXPECT_EQ(doc["environment"], "fleet");
  EXPECT_EQ(doc["databases"], 51);
  EXPECT_EQ(doc["versions"], json({{"0001", 10}, {"0002", 40}})) << doc["versions"].dump();
  std::set<std::string> behind(f.names.begin() + 40, f.names.end());
  EXPECT_EQ(as_set(doc["behind"]), behind);
  EXPECT_EQ(as_set(doc["drift"]), std::set<std::string>{"db_07"});
  EXPECT_EQ(as_set(doc["unreachable"]), std::set<std::string>{"db_ghost"});
  ASSERT_EQ(doc["locked"].size(), 1u) << doc["locked"].dump();
  EXPECT_EQ(doc["locked"][0]["name"], "db_08");
  EXPECT_EQ(std::to_string(doc["locked"][0]["holder"]["pid"].get<int>()), holder_pid);
  EXPECT_TRUE(doc["locked"][0]["holder"]["run_id"].is_null()) << "a plain session, not a ferry run";
  ASSERT_EQ(doc["members"].size(), 51u);
  for (const auto& m : doc["members"]) {
    std::string n = m["name"];
    SCOPED_TRACE(n);
    if (n == "db_ghost") {
      EXPECT_FALSE(m["reachable"].get<bool>());
      EXPECT_TRUE(m.contains("error"));
      continue;
    }
    EXPECT_TRUE(m["reachable"].get<bool>());
    EXPECT_EQ(m["version"], behind.count(n) ? "0001" : "0002");
    EXPECT_EQ(m["pending"].size(), behind.count(n) ? 1u : 0u);
    EXPECT_EQ(m["drift"].empty(), n != "db_07");
    EXPECT_EQ(m["lock"].is_null(), n != "db_08");
  }

  auto text = f.p.ferry({"status", "--env", "fleet"});
  EXPECT_EQ(text.code, 1) << text.all();
  EXPECT_TRUE(contains(text.out, "fleet of 51 databases")) << text.out;
  EXPECT_TRUE(contains(text.out, "    0001  10\n")) << text.out;
  EXPECT_TRUE(contains(text.out, "    0002  40\n")) << text.out;
  EXPECT_TRUE(contains(text.out, "behind       10  db_40, db_41")) << text.out;
  EXPECT_TRUE(contains(text.out, "drift        1  db_07")) << text.out;
  EXPECT_TRUE(contains(text.out, "unreachable  1  db_ghost")) << text.out;
  EXPECT_TRUE(contains(text.out, "db_08  another session (backend pid " + holder_pid + ")")) << text.out;

  auto check = f.p.ferry({"status", "--env", "fleet", "--check"});
  EXPECT_EQ(check.code, 3) << "drift wins, as for one database: " << check.all();
}

TEST(FleetStatus, OneMemberWithDatabaseIsTheSingleDatabaseStatus) {
  StatusFleet f;
  auto r = f.p.ferry({"run", "go", "--yes", "--only", "db_00,db_01"});
  ASSERT_EQ(r.code, 0) << r.all();
  auto js = f.p.ferry({"status", "--env", "fleet", "--database", "db_01", "--json"});
  ASSERT_EQ(js.code, 0) << js.all();
  auto doc = json::parse(js.out);
  ASSERT_TRUE(doc.is_array()) << js.out;
  EXPECT_EQ(doc[0]["database"], "db_01");
  EXPECT_EQ(doc[0]["version"], "0001");
}
