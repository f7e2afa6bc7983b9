// Fleets (issue 13): one environment naming many databases of one real cluster, run by the real
// ferry binary as one child run per database: expansion (names, names_file, discover), a
// 30-database run with parallel 4, the canary, the failure budget, --resume, --only/--exclude,
// and --database on the commands that act on one database.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "support/fixtures.hpp"
#include "support/fleet.hpp"

namespace fs = std::filesystem;
using namespace ferry::test;
using nlohmann::json;

namespace {

const char* k_schema =
    "CREATE TABLE items (id int PRIMARY KEY, title text);"
    "INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 50) g;";

class Fleet : public ::testing::Test {
 protected:
  static PgCluster& pg() {
    static PgCluster cluster;
    return cluster;
  }
  void SetUp() override {
    backups = temp_dir("ferry-fleet-backups");
    project.migration("0001_audit", "CREATE TABLE audit (id int);\nALTER TABLE items ADD COLUMN note text;",
                      "ALTER TABLE items DROP COLUMN note;\nDROP TABLE audit;");
  }
  void TearDown() override { fs::remove_all(backups); }
  // environments/NAME.yaml: a fleet on pg() (`members` is the YAML of the member list).
  void fleet_env(const std::string& name, const std::string& members, const std::string& extra = "") {
    project.write("environments/" + name + ".yaml",
                  "database:\n  user: postgres\n  host: 127.0.0.1\n  port: " + std::to_string(pg().port()) + "\n" +
                      members + "backup:\n  dir: " + backups + "/" + name + "\n" + extra);
  }
  void playbook(const std::string& stage, const std::string& fleet) {
    project.write("playbooks/promote.yaml", "stages: [" + stage +
                                                "]\nsteps:\n  - backup\n  - migrate\n  - verify:\n      columns:\n"
                                                "        - items.note: text\n      row_counts: all\n" +
                                                fleet);
  }
  static std::string yaml_list(const std::vector<std::string>& names) {
    std::string s = "  names:\n";
    for (const auto& n : names) s += "    - " + json(n).dump() + "\n";  // JSON strings are YAML
    return s;
  }
  bool migrated(const std::string& db) {
    return pg().value(db,
                      "SELECT count(*) FROM pg_attribute WHERE attrelid = 'items'::regclass AND attname = 'note' "
                      "AND NOT attisdropped") == "1";
  }
  bool untouched(const std::string& db) {
    return !migrated(db) && pg().value(db, "SELECT to_regclass('audit') IS NULL") == "t" &&
           pg().value(db, "SELECT count(*) FROM items") == "50";
  }
  json record(const std::string& run_id) { return json::parse(project.read(".ferry/fleets/" + run_id + ".json")); }
  static std::map<std::string, json> by_name(const json& rec) {
    std::map<std::string, json> out;
    for (const auto& d : rec["databases"]) out[d["name"].get<std::string>()] = d;
    return out;
  }

  Project project;
  std::string backups;
};

TEST_F(Fleet, NamesNamesFileAndDiscoverEachExpandToTheirDatabases) {
  auto names = make_fleet(pg(), {"exp_a", "exp_a_b", "exp it's", "exp_c", "other_x"}, k_schema);
  fleet_env("listed", yaml_list({"exp_a", "exp it's"}));
  project.write("environments/members.txt", "# tenants\nexp_a_b\n\n  exp_c  \n");
  fleet_env("filed", "  names_file: members.txt\n");
  fleet_env("found", "  discover: \"SELECT datname FROM pg_database WHERE datname LIKE 'exp\\\\_%' ORDER BY 1\"\n");
  project.write("playbooks/promote.yaml", "stages: [listed, filed, found]\nsteps:\n  - migrate\n");
  auto r = project.ferry({"run", "promote", "--json"});
  ASSERT_EQ(r.code, 0) << r.all();
  auto out = json::parse(r.out);
  ASSERT_EQ(out["fleets"].size(), 3u) << r.out;
  std::vector<std::vector<std::string>> want = {
      {"exp_a", "exp it's"}, {"exp_a_b", "exp_c"}, {"exp_a", "exp_a_b", "exp_c"}};
  for (size_t i = 0; i < 3; ++i) {
    std::vector<std::string> got;
    for (const auto& d : out["fleets"][i]["databases"]) got.push_back(d["name"]);
    EXPECT_EQ(got, want[i]) << out["fleets"][i].dump();
  }
  for (const char* db : {"exp_a", "exp_a_b", "exp it's", "exp_c"}) EXPECT_TRUE(migrated(db)) << db;
  EXPECT_TRUE(untouched("other_x"));
}

TEST_F(Fleet, ThirtyDatabasesWithParallelFourAllMigrateEachWithItsOwnBackup) {
  auto names = make_fleet(pg(), numbered("t30_", 30), k_schema);
  fleet_env("tenants", yaml_list(names));
  playbook("tenants", "fleet:\n  parallel: 4\n");
  std::string report = project.path("report.json");
  auto r = project.ferry({"run", "promote", "--report", report});
  ASSERT_EQ(r.code, 0) << r.all();
  for (const auto& n : names) {
    EXPECT_TRUE(migrated(n)) << n;
    EXPECT_EQ(pg().value(n, "SELECT count(*) FROM ferry.migrations"), "1") << n;
    EXPECT_EQ(fs::exists(backups + "/tenants/" + n) ? 1 : 0, 1) << n;
    EXPECT_TRUE(contains(r.out, "db " + n)) << r.out;
  }
  auto rep = json::parse(project.read("report.json"));
  ASSERT_EQ(rep["fleets"].size(), 1u);
  auto fleet = rep["fleets"][0];
  EXPECT_EQ(fleet["databases"].size(), 30u);
  for (const auto& d : fleet["databases"]) {
    EXPECT_EQ(d["outcome"], "ok") << d.dump();
    EXPECT_EQ(d["exit_code"], 0);
    EXPECT_FALSE(d["run_id"].get<std::string>().empty());
  }
  EXPECT_EQ(record(fleet["run_id"])["databases"], fleet["databases"]);  // the record says the same
  // Each member's backups are its own: listed with --database, one each.
  auto list = project.ferry({"backups", "tenants", "--database", names[3], "--json"});
  ASSERT_EQ(list.code, 0) << list.all();
  EXPECT_EQ(json::parse(list.out).size(), 1u);
}

TEST_F(Fleet, ACanaryThatFailsStopsEverythingBeforeTheFirstWave) {
  auto names = make_fleet(pg(), numbered("can_", 8), k_schema);
  pg().exec(names[0], "CREATE TABLE audit (id int)");  // the migration's CREATE TABLE fails here
  fleet_env("tenants", yaml_list(names));
  playbook("tenants", "fleet:\n  parallel: 4\n  canary: 1\n  max_failures: 3\n");
  auto r = project.ferry({"run", "promote", "--json"});
  EXPECT_EQ(r.code, 1) << r.all();
  auto dbs = by_name(json::parse(r.out)["fleets"][0]);
  EXPECT_EQ(dbs[names[0]]["outcome"], "rolled_back");
  EXPECT_FALSE(migrated(names[0]));
  for (size_t i = 1; i < names.size(); ++i) {
    EXPECT_EQ(dbs[names[i]]["outcome"], "not_started") << names[i];
    EXPECT_TRUE(untouched(names[i])) << names[i];
  }
}

TEST_F(Fleet, FailuresWithinTheBudgetRollBackAndTheRestMigrateThenResumeRerunsOnlyThose) {
  auto names = make_fleet(pg(), numbered("bud_", 12), k_schema);
  for (int i : {4, 9}) pg().exec(names[i], "CREATE TABLE audit (id int)");
  fleet_env("tenants", yaml_list(names));
  playbook("tenants", "fleet:\n  parallel: 3\n  canary: 1\n  batch: 50%\n  max_failures: 2\n");
  auto r = project.ferry({"run", "promote", "--json"});
  ASSERT_EQ(r.code, 1) << r.all();
  auto fleet = json::parse(r.out)["fleets"][0];
  auto dbs = by_name(fleet);
  for (int i = 0; i < 12; ++i) {
    bool bad = i == 4 || i == 9;
    EXPECT_EQ(dbs[names[i]]["outcome"], bad ? "rolled_back" : "ok") << names[i];
    EXPECT_EQ(migrated(names[i]), !bad) << names[i];
  }
  EXPECT_TRUE(contains(dbs[names[4]]["message"].get<std::string>(), "audit")) << dbs[names[4]].dump();
  EXPECT_EQ(pg().value(names[4], "SELECT count(*) FROM items"), "50");
  // Fixed, then resumed: only the two run again; the others keep their run ids.
  for (int i : {4, 9}) pg().exec(names[i], "DROP TABLE audit");
  std::string id = fleet["run_id"];
  auto again = project.ferry({"run", "promote", "--resume", id, "--json"});
  ASSERT_EQ(again.code, 0) << again.all();
  auto rec = record(id);
  EXPECT_EQ(rec["resumes"], 1);
  auto after = by_name(rec);
  for (int i = 0; i < 12; ++i) {
    EXPECT_EQ(after[names[i]]["outcome"], "ok") << names[i];
    EXPECT_TRUE(migrated(names[i])) << names[i];
    bool rerun = i == 4 || i == 9;
    EXPECT_EQ(after[names[i]]["run_id"] != dbs[names[i]]["run_id"], rerun) << names[i];
  }
}

TEST_F(Fleet, TheBudgetSpentStopsStartingDatabases) {
  auto names = make_fleet(pg(), numbered("stop_", 6), k_schema);
  for (int i : {0, 1}) pg().exec(names[i], "CREATE TABLE audit (id int)");
  fleet_env("tenants", yaml_list(names));
  playbook("tenants", "fleet:\n  parallel: 1\n  max_failures: 1\n");
  auto r = project.ferry({"run", "promote", "--json"});
  EXPECT_EQ(r.code, 1) << r.all();
  auto dbs = by_name(json::parse(r.out)["fleets"][0]);
  EXPECT_EQ(dbs[names[0]]["outcome"], "rolled_back");
  EXPECT_EQ(dbs[names[1]]["outcome"], "rolled_back");
  for (int i = 2; i < 6; ++i) {
    EXPECT_EQ(dbs[names[i]]["outcome"], "not_started") << names[i];
    EXPECT_TRUE(untouched(names[i])) << names[i];
  }
}

TEST_F(Fleet, OnlyAndExcludeTakeASubset) {
  auto names = make_fleet(pg(), numbered("sub_", 5), k_schema);
  fleet_env("tenants", yaml_list(names));
  playbook("tenants", "fleet:\n  parallel: 2\n");
  auto only = project.ferry({"run", "promote", "--only", names[1] + "," + names[3]});
  ASSERT_EQ(only.code, 0) << only.all();
  for (int i = 0; i < 5; ++i) EXPECT_EQ(migrated(names[i]), i == 1 || i == 3) << names[i];
  auto excl = project.ferry({"run", "promote", "--exclude", names[0] + "," + names[1] + "," + names[3]});
  ASSERT_EQ(excl.code, 0) << excl.all();
  for (int i = 0; i < 5; ++i) EXPECT_EQ(migrated(names[i]), i != 0) << names[i];
  auto typo = project.ferry({"run", "promote", "--only", "sub_99"});
  EXPECT_EQ(typo.code, 64) << typo.all();
  EXPECT_TRUE(contains(typo.err, "--only 'sub_99' is not a database of the fleet")) << typo.err;
}

TEST_F(Fleet, DatabaseFlagActsOnOneMemberAndItsOwnBackupsOnly) {
  // `a` and `a_b` (a prefix of each other) and names with a space and a quote.
  auto names = make_fleet(pg(), {"m_a", "m_a_b", "m a", "m'q"}, k_schema);
  fleet_env("tenants", yaml_list(names));
  playbook("tenants", "fleet:\n  parallel: 2\n");
  auto r = project.ferry({"run", "promote"});
  ASSERT_EQ(r.code, 0) << r.all();
  for (const auto& n : names) {
    auto list = project.ferry({"backups", "tenants", "--database", n, "--json"});
    ASSERT_EQ(list.code, 0) << list.all();
    EXPECT_EQ(json::parse(list.out).size(), 1u) << n;
  }
  // Without --database, a command on one database is refused.
  auto h = project.ferry({"history", "tenants"});
  EXPECT_EQ(h.code, 64) << h.all();
  EXPECT_TRUE(contains(h.err, "is a fleet of databases: name one with --database NAME")) << h.err;
  auto typo = project.ferry({"history", "tenants", "--database", "m_x"});
  EXPECT_EQ(typo.code, 64) << typo.all();
  // Roll one member back to its backup: only it changes.
  for (const auto& n : {std::string("m_a_b"), std::string("m'q")}) {
    auto rb = project.ferry({"rollback", "tenants", "--database", n, "--backup", "latest", "--yes"});
    ASSERT_EQ(rb.code, 0) << n << rb.all();
  }
  EXPECT_TRUE(migrated("m_a"));
  EXPECT_TRUE(migrated("m a"));
  EXPECT_FALSE(migrated("m_a_b"));
  EXPECT_FALSE(migrated("m'q"));
  EXPECT_EQ(pg().value("m_a_b", "SELECT count(*) FROM items"), "50");
  auto hist = project.ferry({"history", "tenants", "--database", "m a", "--json"});
  ASSERT_EQ(hist.code, 0) << hist.all();
  EXPECT_EQ(json::parse(hist.out)["migrations"].size(), 1u);
}

}  // namespace
