// Issue 13's fleet gaps, on 30 real databases of one real cluster with the real ferry binary:
// `ferry plan` on a fleet stage (the selection, canary, waves, budget, and per database what it
// would apply or why it would be refused, text and --json), `ferry status` without --env (each
// fleet in one line, --json with every member), and --resume keeping the first run's budget.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "support/fixtures.hpp"
#include "support/fleet.hpp"

namespace fs = std::filesystem;
using namespace ferry::test;
using nlohmann::json;

namespace {

const char* k_schema =
    "CREATE TABLE accounts (id bigserial PRIMARY KEY, email text NOT NULL);"
    "INSERT INTO accounts (email) SELECT 'user' || g || '@example.com' FROM generate_series(1, 20) g;";

// 30 databases plan_01..plan_30 listed by environment `tenants`, a single database `hq` as
// environment `hq`, three migrations, and playbook `go` (stage tenants) with `fleet_block`.
struct PlanFleet {
  PgCluster pg;
  Project p;
  std::vector<std::string> names;
  explicit PlanFleet(const std::string& fleet_block, const std::string& prefix = "plan_") {
    names = make_fleet(pg, numbered(prefix, 30), k_schema);
    pg.create_db("hq");
    pg.exec("hq", k_schema);
    p.write("environments/tenants.yaml",
            "database:\n  names: " + json(names).dump() + "\n  user: postgres\n  host: 127.0.0.1\n  port: " +
                std::to_string(pg.port()) + "\nbackup:\n  dir: " + p.path("backups") + "\n");
    p.env("hq", pg, "hq");
    p.migration("0001_orders", "CREATE TABLE orders (id bigserial PRIMARY KEY);\n", "DROP TABLE orders;\n");
    p.migration("0002_note", "ALTER TABLE accounts ADD COLUMN note text;\n",
                "ALTER TABLE accounts DROP COLUMN note;\n");
    p.migration("0003_email_check",
                "ALTER TABLE accounts ADD CONSTRAINT email_not_bad CHECK (email NOT LIKE 'bad%');\n",
                "ALTER TABLE accounts DROP CONSTRAINT email_not_bad;\n");
    p.write("playbooks/go.yaml",
            "migrations: migrations\nstages: [tenants]\nfleet:\n" + fleet_block + "steps:\n  - backup\n  - migrate\n");
  }
  std::string first(int n) const {
    std::string out;
    for (int i = 0; i < n; ++i) out += (i ? "," : "") + names[i];
    return out;
  }
  bool has_ledger(const std::string& db) { return pg.value(db, "SELECT to_regclass('ferry.runs') IS NOT NULL") == "t"; }
  std::set<std::string> record_ids() const {
    std::set<std::string> out;
    fs::path dir = p.path(".ferry/fleets");
    if (fs::exists(dir))
      for (const auto& e : fs::directory_iterator(dir))
        if (e.path().extension() == ".json") out.insert(e.path().stem().string());
    return out;
  }
  json record(const std::string& id) const { return json::parse(p.read(".ferry/fleets/" + id + ".json")); }
};

std::map<std::string, json> by_name(const json& list) {
  std::map<std::string, json> out;
  for (const auto& m : list) out[m["name"].get<std::string>()] = m;
  return out;
}

std::map<std::string, int> outcomes(const json& record) {
  std::map<std::string, int> out;
  for (const auto& m : record["databases"]) ++out[m["outcome"].get<std::string>()];
  return out;
}

}  // namespace

// 9 databases up to date, one with drift, one locked by another session, 19 that would apply
// 0001..0003: the plan says so per group, lists the refused, shows the schedule, exits 3, and
// changes nothing (no ledger appears on a database that had none).
TEST(FleetPlan, SummarisesWhatEachDatabaseWouldApplyListsTheRefusedAndExits3) {
  PlanFleet f("  parallel: 4\n  canary: 1\n  batch: 10%\n  max_failures: 10%\n");
  auto r = f.p.ferry({"run", "go", "--yes", "--only", f.first(10)});
  ASSERT_EQ(r.code, 0) << r.all();
  f.pg.exec("plan_05", "UPDATE ferry.migrations SET checksum = 'edited' WHERE version = '0002'");
  auto holder = f.pg.connect("plan_20");
  holder->exec("SELECT pg_advisory_lock(1717924466, 1)");

  auto text = f.p.ferry({"plan", "go"});
  EXPECT_EQ(text.code, 3) << text.all();
  EXPECT_TRUE(contains(text.out, "stage tenants  fleet of 30 databases on 127.0.0.1:")) << text.out;
  EXPECT_TRUE(contains(text.out, "schedule: parallel 4; canary 1 (plan_01); 10 waves of up to 3; failure budget 3"))
      << text.out;
  EXPECT_TRUE(contains(text.out, "19 databases would apply 0001..0003\n")) << text.out;
  EXPECT_TRUE(contains(text.out, "9 databases are up to date\n")) << text.out;
  EXPECT_TRUE(contains(text.out, "refused: 2\n")) << text.out;
  EXPECT_TRUE(contains(text.out, "    plan_05  refused (drift)")) << text.out;
  EXPECT_TRUE(contains(text.out, "    plan_20  refused (lock held)")) << text.out;
  EXPECT_TRUE(contains(text.out, "verdict: refused (2 of 30 databases would be refused)")) << text.out;

  auto js = f.p.ferry({"plan", "go", "--json"});
  EXPECT_EQ(js.code, 3) << js.all();
  auto doc = json::parse(js.out);
  ASSERT_EQ(doc["stages"].size(), 1u);
  auto st = doc["stages"][0];
  EXPECT_EQ(st["environment"], "tenants");
  EXPECT_EQ(st["fleet"]["databases"], 30);
  EXPECT_EQ(st["fleet"]["selected"], 30);
  EXPECT_EQ(st["fleet"]["parallel"], 4);
  EXPECT_EQ(st["fleet"]["budget"], 3);
  EXPECT_EQ(st["fleet"]["canary"], json({"plan_01"}));
  ASSERT_EQ(st["fleet"]["waves"].size(), 10u);
  EXPECT_EQ(st["fleet"]["waves"][0], json({"plan_02", "plan_03", "plan_04"}));
  EXPECT_EQ(st["fleet"]["waves"][9], json({"plan_29", "plan_30"}));
  auto refused = by_name(st["fleet"]["refused"]);
  ASSERT_EQ(refused.size(), 2u) << st["fleet"].dump();
  EXPECT_EQ(refused["plan_05"]["kind"], "drift");
  EXPECT_EQ(refused["plan_20"]["kind"], "locked");
  EXPECT_EQ(st["refusal"]["kind"], "fleet");
  ASSERT_EQ(st["members"].size(), 30u);
  auto members = by_name(st["members"]);
  EXPECT_EQ(members["plan_15"]["pending"].size(), 3u);
  EXPECT_EQ(members["plan_15"]["pending"][0]["version"], "0001");
  EXPECT_TRUE(members["plan_15"]["refusal"].is_null());
  EXPECT_EQ(members["plan_03"]["current_version"], "0003");
  EXPECT_EQ(members["plan_03"]["pending"].size(), 0u);
  EXPECT_EQ(members["plan_20"]["refusal"]["kind"], "locked");
  for (int i = 10; i < 30; ++i) EXPECT_FALSE(f.has_ledger(f.names[i])) << "plan changed " << f.names[i];
}

// --shard, --only and --exclude pick the same databases a run would; a plan that would run
// exits 0; an --only naming no member is a usage error (64), as is --shard on a plan without fleet.
TEST(FleetPlan, SelectionFlagsPlanTheSameDatabasesARunWouldTake) {
  PlanFleet f("  parallel: 2\n");
  auto js = f.p.ferry({"plan", "go", "--json", "--shard", "1/3"});
  ASSERT_EQ(js.code, 0) << js.all();
  auto st = json::parse(js.out)["stages"][0];
  std::set<std::string> planned;
  for (const auto& m : st["members"]) planned.insert(m["name"].get<std::string>());
  EXPECT_EQ(st["fleet"]["selected"], planned.size());
  EXPECT_FALSE(st["fleet"]["canary"].size()) << "no canary in this playbook";
  auto run = f.p.ferry({"run", "go", "--yes", "--shard", "1/3"});
  ASSERT_EQ(run.code, 0) << run.all();
  std::set<std::string> ran;
  for (const auto& n : f.names)
    if (f.has_ledger(n)) ran.insert(n);
  EXPECT_EQ(planned, ran);
  EXPECT_EQ(st["fleet"]["would_apply"][0]["apply"], "0001..0003");

  auto only = f.p.ferry({"plan", "go", "--only", "plan_01,plan_02,plan_03", "--exclude", "plan_02"});
  EXPECT_EQ(only.code, 0) << only.all();
  EXPECT_TRUE(contains(only.out, "fleet of 30 databases on 127.0.0.1:")) << only.out;
  EXPECT_TRUE(contains(only.out, ", 2 selected")) << only.out;
  auto bad = f.p.ferry({"plan", "go", "--only", "plan_1"});
  EXPECT_EQ(bad.code, 64) << bad.all();
  f.p.write("playbooks/hq.yaml", "stages: [hq]\nsteps:\n  - migrate\n");
  auto none = f.p.ferry({"plan", "hq", "--shard", "0/2"});
  EXPECT_EQ(none.code, 64) << none.all();
}

// `ferry status` without --env: the single environment as before, the fleet in one line (its
// histogram and counts); --json carries every member; --check sees the fleet's drift.
TEST(FleetStatusAll, EveryEnvironmentWithEachFleetInOneLine) {
  PlanFleet f("  parallel: 4\n");
  auto r = f.p.ferry({"run", "go", "--yes", "--only", f.first(20)});
  ASSERT_EQ(r.code, 0) << r.all();
  f.pg.exec("plan_07", "UPDATE ferry.migrations SET checksum = 'edited' WHERE version = '0001'");
  auto holder = f.pg.connect("plan_08");
  holder->exec("SELECT pg_advisory_lock(1717924466, 1)");

  auto text = f.p.ferry({"status"});
  EXPECT_EQ(text.code, 0) << text.all();
  EXPECT_TRUE(contains(text.out, "hq  hq on 127.0.0.1:")) << text.out;
  EXPECT_TRUE(contains(text.out, "tenants  fleet of 30 databases on 127.0.0.1:" + std::to_string(f.pg.port()) +
                                     "  versions 0003: 20, none: 10; behind 10, drift 1, locked 1, unreachable 0\n"))
      << text.out;

  auto js = f.p.ferry({"status", "--json"});
  EXPECT_EQ(js.code, 0) << js.all();
  auto doc = json::parse(js.out);
  ASSERT_TRUE(doc.is_array());
  std::map<std::string, json> envs;
  for (const auto& e : doc) envs[e["environment"].get<std::string>()] = e;
  ASSERT_EQ(envs.size(), 2u);
  EXPECT_EQ(envs["hq"]["database"], "hq");
  auto t = envs["tenants"];
  EXPECT_TRUE(t["fleet"].get<bool>());
  EXPECT_EQ(t["databases"], 30);
  EXPECT_EQ(t["versions"], json({{"0003", 20}, {"none", 10}}));
  EXPECT_EQ(t["drift"], json({"plan_07"}));
  EXPECT_EQ(t["locked"][0]["name"], "plan_08");
  EXPECT_EQ(t["behind"].size(), 10u);
  ASSERT_EQ(t["members"].size(), 30u);
  EXPECT_EQ(by_name(t["members"])["plan_25"]["pending"].size(), 3u);

  auto check = f.p.ferry({"status", "--check"});
  EXPECT_EQ(check.code, 3) << "the fleet's drift: " << check.all();
  f.p.write("environments/ghosts.yaml", "database:\n  names: [ghost_a]\n  user: postgres\n  host: 127.0.0.1\n  port: " +
                                            std::to_string(f.pg.port()) + "\n");
  auto ghost = f.p.ferry({"status"});
  EXPECT_EQ(ghost.code, 1) << "a member unreachable: " << ghost.all();
  EXPECT_TRUE(contains(ghost.out, "ghosts  fleet of 1 databases")) << ghost.out;
  EXPECT_TRUE(contains(ghost.out, "unreachable 1")) << ghost.out;
}

// max_failures 2 (stop), one at a time: three failures spend the budget. A resume of the same
// run gets what is left of that budget (none), not a fresh one: its first failure stops it. Once
// the cause is fixed, the next resume migrates the rest and the record keeps the count.
TEST(FleetResumeBudget, AResumeKeepsTheFirstRunsBudgetAndNeverGetsAFreshOne) {
  PlanFleet f("  parallel: 1\n  max_failures: 2\n  on_budget_spent: stop\n", "res_");
  for (int i : {4, 9, 14}) f.pg.exec(f.names[i], "INSERT INTO accounts (email) VALUES ('bad@example.com')");
  auto first = f.p.ferry({"run", "go", "--yes"});
  EXPECT_EQ(first.code, 1) << first.all();
  auto ids = f.record_ids();
  ASSERT_EQ(ids.size(), 1u);
  std::string id = *ids.begin();
  auto rec = f.record(id);
  EXPECT_EQ(rec["budget"], 2);
  EXPECT_EQ(rec["failures"], 3);
  EXPECT_EQ(outcomes(rec)["ok"], 12) << rec.dump(2);

  auto again = f.p.ferry({"run", "go", "--yes", "--resume", id});
  EXPECT_EQ(again.code, 1) << again.all();
  EXPECT_TRUE(contains(again.all(), "failure budget 0 left of 2")) << again.all();
  rec = f.record(id);
  auto out = outcomes(rec);
  EXPECT_EQ(out["rolled_back"], 1) << "a fresh budget of 2 would have tried three: " << rec.dump(2);
  EXPECT_EQ(out["ok"], 12) << rec.dump(2);
  EXPECT_EQ(by_name(rec["databases"])["res_05"]["outcome"], "rolled_back") << rec.dump(2);
  EXPECT_EQ(rec["failures"], 4);
  EXPECT_EQ(rec["budget"], 2) << "the record keeps the whole run's budget";
  EXPECT_FALSE(f.has_ledger(f.names[15])) << "nothing started after the failure";

  for (int i : {4, 9, 14}) f.pg.exec(f.names[i], "DELETE FROM accounts WHERE email LIKE 'bad%'");
  auto fixed = f.p.ferry({"run", "go", "--yes", "--resume", id});
  EXPECT_EQ(fixed.code, 0) << fixed.all();
  EXPECT_EQ(outcomes(f.record(id))["ok"], 30) << f.record(id).dump(2);
  for (const auto& n : f.names)
    EXPECT_EQ(f.pg.value(n, "SELECT count(*) FROM ferry.migrations WHERE version = '0003'"), "1") << n;
}
