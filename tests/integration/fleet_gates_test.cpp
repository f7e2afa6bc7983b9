// The promotion gate (SPEC section 7) when `requires:` names a fleet environment: every database
// of the fleet is read live, and the gate opens only when each holds what the stage would apply,
// by a succeeded run. Real cluster, real ferry binary; a refusal names what is missing on how
// many databases, which, and where to look.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>

#include "support/fixtures.hpp"
#include "support/fleet.hpp"

using namespace ferry::test;
using nlohmann::json;

namespace {

// Fleet `tenants` (10 databases) and single database `prod`, which requires tenants.
struct GatedProject {
  PgCluster pg;
  Project p;
  std::vector<std::string> names;
  explicit GatedProject(const std::string& extra_member = "") {
    names = make_fleet(pg, numbered("gate_", 10), "CREATE TABLE items (id int PRIMARY KEY);");
    pg.create_db("prod");
    pg.exec("prod", "CREATE TABLE items (id int PRIMARY KEY);");
    auto listed = names;
    if (!extra_member.empty()) listed.push_back(extra_member);
    p.write("environments/tenants.yaml",
            "database:\n  names: " + json(listed).dump() +
                "\n  user: postgres\n  host: 127.0.0.1\n  port: " + std::to_string(pg.port()) + "\n");
    p.env("prod", pg, "prod", "requires: [tenants]\n");
    p.migration("0001_notes", "CREATE TABLE notes (id int);\n", "DROP TABLE notes;\n");
    p.write("playbooks/go.yaml",
            "stages: [tenants, prod]\nfleet:\n  parallel: 3\n  max_failures: 100%\n"
            "steps:\n  - migrate\n");
  }
  bool has_notes(const std::string& db) { return pg.value(db, "SELECT to_regclass('notes') IS NOT NULL") == "t"; }
};

}  // namespace

// 7 of 10 tenants migrated: prod is refused (3), the message names the migration, "3 of the
// fleet's 10 databases" and which; plan says the same. Once the other 3 are migrated, prod runs.
TEST(FleetGates, RequiredFleetOpensOnlyWhenEveryDatabaseHasTheMigration) {
  GatedProject g;
  auto some = g.p.ferry({"run", "go", "--env", "tenants", "--exclude", "gate_03,gate_06,gate_09"});
  ASSERT_EQ(some.code, 0) << some.all();
  auto refused = g.p.ferry({"run", "go", "--env", "prod"});
  EXPECT_EQ(refused.code, 3) << refused.all();
  EXPECT_TRUE(contains(
      refused.all(), "tenants: 0001_notes is not applied on 3 of the fleet's 10 databases: gate_03, gate_06, gate_09"))
      << refused.all();
  EXPECT_TRUE(contains(refused.all(), "the fleet 'tenants' opens the gate only when every one of its databases"))
      << refused.all();
  EXPECT_FALSE(contains(refused.all(), "name one with --database")) << "the gate reads the fleet, not one database";
  EXPECT_FALSE(g.has_notes("prod"));

  auto plan = g.p.ferry({"plan", "go", "--env", "prod", "--json"});
  EXPECT_EQ(plan.code, 3) << plan.all();
  auto st = json::parse(plan.out)["stages"][0];
  EXPECT_EQ(st["refusal"]["kind"], "gate");
  EXPECT_TRUE(contains(st["refusal"]["message"].get<std::string>(), "on 3 of the fleet's 10 databases")) << st.dump();

  auto rest = g.p.ferry({"run", "go", "--env", "tenants", "--only", "gate_03,gate_06,gate_09"});
  ASSERT_EQ(rest.code, 0) << rest.all();
  auto open = g.p.ferry({"run", "go", "--env", "prod"});
  EXPECT_EQ(open.code, 0) << open.all();
  EXPECT_TRUE(g.has_notes("prod"));
}

// A plan of both stages says prod's gate opens once tenants succeeds in the same run.
TEST(FleetGates, PlanOfBothStagesSaysTheGateOpensWithTheFleetsStage) {
  GatedProject g;
  auto plan = g.p.ferry({"plan", "go"});
  EXPECT_EQ(plan.code, 0) << plan.all();
  EXPECT_TRUE(contains(plan.out, "gate (tenants): opens once the earlier stages of this run succeed")) << plan.all();
}

// A database of the fleet that cannot be read keeps the gate closed (never opened on a guess).
TEST(FleetGates, AnUnreadableMemberKeepsTheGateClosed) {
  GatedProject g("gate_missing");
  auto run = g.p.ferry({"run", "go", "--env", "tenants", "--exclude", "gate_missing"});
  ASSERT_EQ(run.code, 0) << run.all();
  for (const auto& n : g.names) EXPECT_TRUE(g.has_notes(n)) << n;
  auto refused = g.p.ferry({"run", "go", "--env", "prod"});
  EXPECT_EQ(refused.code, 3) << refused.all();
  EXPECT_TRUE(contains(refused.all(), "tenants: cannot check 1 of the fleet's 11 databases: gate_missing"))
      << refused.all();
  EXPECT_FALSE(g.has_notes("prod"));
}

// A fleet stage requiring a fleet: the members of one run share the gate's answer (the first
// open answer is kept for the run), so each required database is read about once per run, not
// once per member (8 members, parallel 2: at most the first wave reads live).
TEST(FleetGates, AFleetRequiringAFleetReadsEachRequiredDatabaseOncePerRunNotPerMember) {
  GatedProject g;
  auto regions = make_fleet(g.pg, numbered("region_", 8), "CREATE TABLE items (id int PRIMARY KEY);", "region_tpl");
  g.p.write("environments/regions.yaml", "database:\n  names: " + json(regions).dump() +
                                             "\n  user: postgres\n  host: 127.0.0.1\n  port: " +
                                             std::to_string(g.pg.port()) + "\nrequires: [tenants]\n");
  g.p.write("playbooks/go.yaml",
            "stages: [tenants, regions]\nfleet:\n  parallel: 2\n  max_failures: 100%\nsteps:\n  - migrate\n");
  auto first = g.p.ferry({"run", "go", "--env", "tenants"});
  ASSERT_EQ(first.code, 0) << first.all();
  auto sessions = [&](const std::string& db) {
    return std::stol(g.pg.value("postgres", "SELECT sessions FROM pg_stat_database WHERE datname = '" + db + "'"));
  };
  std::map<std::string, long> before;
  for (const auto& n : g.names) before[n] = sessions(n);
  auto r = g.p.ferry({"run", "go", "--env", "regions"});
  ASSERT_EQ(r.code, 0) << r.all();
  for (const auto& n : regions) EXPECT_TRUE(g.pg.value(n, "SELECT to_regclass('notes') IS NOT NULL") == "t") << n;
  for (const auto& n : g.names) EXPECT_LE(sessions(n) - before[n], 2) << n << ": read by more than the first wave";
}
