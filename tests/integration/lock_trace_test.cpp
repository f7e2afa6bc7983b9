// The lock trace on the first stage and the forecast in `ferry plan` (issue 9 items 3 and 4), on a
// real PostgreSQL cluster with two databases as stages staging -> production (production 10x the
// rows): the locks each statement held and the rewrites, read from pg_locks and relfilenode while
// staging ran, shown by `ferry history --locks` and `--json`; `ferry plan` for production scales
// the traced durations by the row counts. Production (protected) is not traced: one round trip.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/fixtures.hpp"

using namespace ferry::test;
using nlohmann::json;

namespace {

class LockTrace : public ::testing::Test {
 protected:
  static PgCluster& pg() {
    static PgCluster cluster;
    return cluster;
  }
  void SetUp() override {
    for (auto [db, rows] : {std::pair{"staging", 2000}, std::pair{"production", 20000}}) {
      pg().create_db(db);
      pg().exec(db,
                "CREATE TABLE orders (id bigserial PRIMARY KEY, amount int NOT NULL);"
                "INSERT INTO orders (amount) SELECT g % 97 FROM generate_series(1, " +
                    std::to_string(rows) + ") g; ANALYZE orders;");
    }
    project.env("staging", pg(), "staging");
    project.env("production", pg(), "production", "protected: true\n");
    // `each`: a transaction per migration, so each trace holds its own migration's locks only
    project.write("playbooks/deploy.yaml", "stages: [staging, production]\nsteps:\n  - migrate: {transaction: each}\n");
    project.migration("0001_token", "ALTER TABLE orders ADD COLUMN token float8 DEFAULT random();",
                      "ALTER TABLE orders DROP COLUMN token;");
    project.migration("0002_amount_idx", "CREATE INDEX orders_amount ON orders (amount);", "DROP INDEX orders_amount;");
    project.migration("0003_seed", "-- a row\nINSERT INTO orders (amount) VALUES (1);",
                      "DELETE FROM orders WHERE amount = 1 AND token IS NULL;");
  }
  // The trace of `version` in `ferry history ENV --json` (null when none).
  json trace_of(const std::string& env, const std::string& version) {
    auto h = project.ferry({"history", env, "--json"});
    EXPECT_EQ(h.code, 0) << h.all();
    json j = json::parse(h.out);
    for (const auto& m : j["migrations"])
      if (m["version"] == version) return m["lock_trace"];
    ADD_FAILURE() << version << " not applied in " << env << ": " << h.out.substr(0, 400);
    return nullptr;
  }
  static bool holds(const json& statement, const std::string& mode, const std::string& table) {
    for (const auto& l : statement["locks"])
      if (l["mode"] == mode && l["relation"] == table) return true;
    return false;
  }
  Project project;
};

TEST_F(LockTrace, StagingRecordsLocksRewritesAndDurationsPerStatement) {
  auto r = project.ferry({"run", "deploy", "--env", "staging"});
  ASSERT_EQ(r.code, 0) << r.all();

  json add = trace_of("staging", "0001");
  ASSERT_TRUE(add.is_object()) << add;
  EXPECT_EQ(add["environment"], "staging");
  ASSERT_EQ(add["statements"].size(), 1u) << add.dump(2);
  EXPECT_TRUE(holds(add["statements"][0], "ACCESS EXCLUSIVE", "orders")) << add.dump(2);
  EXPECT_TRUE(holds(add["statements"][0], "SHARE", "orders")) << add.dump(2);  // the rewrite rebuilds the index
  EXPECT_EQ(add["statements"][0]["rewrite"], true) << add.dump(2);
  EXPECT_EQ(add["statements"][0]["file"], "migrations/0001_token/up.sql");
  EXPECT_GE(add["statements"][0]["duration_ms"].get<double>(), 0.0);
  EXPECT_EQ(add["tables"]["orders"]["rows"], 2000.0) << add.dump(2);

  json idx = trace_of("staging", "0002");
  ASSERT_EQ(idx["statements"].size(), 1u) << idx.dump(2);
  EXPECT_TRUE(holds(idx["statements"][0], "SHARE", "orders")) << idx.dump(2);
  EXPECT_FALSE(holds(idx["statements"][0], "ACCESS EXCLUSIVE", "orders")) << idx.dump(2);
  EXPECT_EQ(idx["statements"][0]["rewrite"], false) << idx.dump(2);

  json ins = trace_of("staging", "0003");
  ASSERT_EQ(ins["statements"].size(), 1u) << ins.dump(2);
  EXPECT_EQ(ins["statements"][0]["line"], 2);
  EXPECT_TRUE(holds(ins["statements"][0], "ROW EXCLUSIVE", "orders")) << ins.dump(2);
  EXPECT_EQ(ins["statements"][0]["rewrite"], false);

  auto h = project.ferry({"history", "staging", "--locks"});
  ASSERT_EQ(h.code, 0) << h.all();
  EXPECT_TRUE(contains(h.out, "0001_token  traced on staging")) << h.out;
  EXPECT_TRUE(
      contains(h.out, "migrations/0001_token/up.sql:1  ACCESS EXCLUSIVE on orders, SHARE on orders  rewrite yes  "))
      << h.out;
  EXPECT_TRUE(contains(h.out, "migrations/0002_amount_idx/up.sql:1  SHARE on orders  rewrite no  ")) << h.out;
  EXPECT_TRUE(contains(h.out, "migrations/0003_seed/up.sql:2  ROW EXCLUSIVE on orders  rewrite no  ")) << h.out;
  // the trace changed nothing the migrations did not: the rows and the new column are there
  EXPECT_EQ(pg().value("staging", "SELECT count(*) || '/' || count(token) FROM orders"), "2001/2001");
}

// With `transaction: all` one transaction carries every migration: a lock an earlier migration
// took is named as held before, not as the later statement's.
TEST_F(LockTrace, OneTransactionNamesTheLocksEarlierMigrationsHeld) {
  project.write("playbooks/deploy.yaml", "stages: [staging, production]\nsteps:\n  - migrate: {transaction: all}\n");
  auto r = project.ferry({"run", "deploy", "--env", "staging"});
  ASSERT_EQ(r.code, 0) << r.all();
  json ins = trace_of("staging", "0003");
  EXPECT_TRUE(holds(ins["statements"][0], "ROW EXCLUSIVE", "orders")) << ins.dump(2);
  EXPECT_FALSE(holds(ins["statements"][0], "ACCESS EXCLUSIVE", "orders")) << ins.dump(2);
  EXPECT_TRUE(holds(json{{"locks", ins["held_before"]}}, "ACCESS EXCLUSIVE", "orders")) << ins.dump(2);
  auto h = project.ferry({"history", "staging", "--locks"});
  EXPECT_TRUE(contains(h.out, "already held from earlier migrations of its transaction: ACCESS EXCLUSIVE on orders"))
      << h.out;
}

TEST_F(LockTrace, PlanForecastsProductionScaledByItsRowsAndProductionIsNotTraced) {
  auto p = project.ferry({"plan", "deploy", "--env", "production"});
  EXPECT_TRUE(contains(p.out, "0001_token: no trace on staging; see lint's static levels")) << p.all();

  auto r = project.ferry({"run", "deploy", "--env", "staging"});
  ASSERT_EQ(r.code, 0) << r.all();
  p = project.ferry({"plan", "deploy", "--env", "production"});
  EXPECT_TRUE(contains(p.out, "0001_token: traced on staging")) << p.all();
  EXPECT_TRUE(
      contains(p.out, "migrations/0001_token/up.sql:1  ACCESS EXCLUSIVE on orders, SHARE on orders (rewrite) for ~"))
      << p.all();
  EXPECT_TRUE(contains(p.out, " at production's 20k rows; traced on staging at 2.0k rows: ")) << p.all();
  EXPECT_TRUE(contains(p.out, "migrations/0002_amount_idx/up.sql:1  SHARE on orders for ~")) << p.all();

  auto pj = project.ferry({"plan", "deploy", "--env", "production", "--json"});
  auto f = json::parse(pj.out)["stages"][0]["forecast"];
  ASSERT_EQ(f.size(), 3u) << f.dump(2);
  EXPECT_EQ(f[0]["traced_on"], "staging");
  auto s = f[0]["statements"][0];
  EXPECT_EQ(s["rewrite"], true);
  EXPECT_EQ(s["traced_rows"], 2000.0);
  EXPECT_EQ(s["target_rows"], 20000.0);
  EXPECT_NEAR(s["estimated_ms"].get<double>(), 10 * s["traced_ms"].get<double>(), 1e-6) << s.dump(2);
  EXPECT_EQ(f[2]["statements"][0]["locks"][0]["mode"], "ROW EXCLUSIVE") << f.dump(2);

  // production is protected: `lock_trace: auto` keeps its one-round-trip batch, no trace stored
  r = project.ferry({"run", "deploy", "--env", "production", "--yes"});
  ASSERT_EQ(r.code, 0) << r.all();
  EXPECT_TRUE(trace_of("production", "0001").is_null());
  EXPECT_EQ(pg().value("production", "SELECT count(*) || '/' || count(token) FROM orders"), "20001/20001");
}

TEST_F(LockTrace, AlwaysAndNeverOverrideTheEnvironment) {
  project.write("playbooks/deploy.yaml", "stages: [staging, production]\nsteps:\n  - migrate: {lock_trace: never}\n");
  ASSERT_EQ(project.ferry({"run", "deploy", "--env", "staging"}).code, 0);
  EXPECT_TRUE(trace_of("staging", "0001").is_null());
  project.write("playbooks/deploy.yaml", "stages: [staging, production]\nsteps:\n  - migrate: {lock_trace: always}\n");
  auto r = project.ferry({"run", "deploy", "--env", "production", "--yes"});
  ASSERT_EQ(r.code, 0) << r.all();
  EXPECT_TRUE(trace_of("production", "0002").is_object());
  project.write("playbooks/deploy.yaml", "stages: [staging]\nsteps:\n  - migrate: {lock_trace: sometimes}\n");
  auto bad = project.ferry({"plan", "deploy"});
  EXPECT_EQ(bad.code, 64) << bad.all();
  EXPECT_TRUE(contains(bad.all(), "lock_trace")) << bad.all();
}

}  // namespace
