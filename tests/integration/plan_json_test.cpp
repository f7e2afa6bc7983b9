// `ferry plan` from the runner's own planning function: `--json` (schema_version 1), and exit 3
// when a stage would be refused (drift, interrupted migration, closed gate, lock held), not for
// protection. Real PostgreSQL, the real ferry binary.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/fixtures.hpp"

using namespace ferry::test;
using nlohmann::json;

namespace {

class PlanJson : public ::testing::Test {
 protected:
  static PgCluster& pg() {
    static PgCluster cluster;
    return cluster;
  }
  void SetUp() override {
    pg().create_db("dev");
    pg().create_db("staging");
    pg().exec("dev", "CREATE TABLE tasks (id int PRIMARY KEY, title text)");
    pg().exec("staging", "CREATE TABLE tasks (id int PRIMARY KEY, title text)");
    project.env("dev", pg(), "dev");
    project.env("staging", pg(), "staging", "requires: [dev]\nprotected: true\n");
    project.migration("0001_add_due", "ALTER TABLE tasks ADD COLUMN due date;", "ALTER TABLE tasks DROP COLUMN due;");
    project.migration("0002_add_note", "ALTER TABLE tasks ADD COLUMN note text;",
                      "ALTER TABLE tasks DROP COLUMN note;");
    project.write("playbooks/promote.yaml", "stages: [dev, staging]\nsteps:\n  - migrate\n");
  }
  json plan_json(int want_code, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args{"plan", "promote", "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = project.ferry(args);
    EXPECT_EQ(r.code, want_code) << r.all();
    return json::parse(r.out);
  }
  Project project;
};

TEST_F(PlanJson, ListsEachStagesVersionPendingAndRollback) {
  auto j = plan_json(0);
  EXPECT_EQ(j["schema_version"], 1);
  ASSERT_EQ(j["stages"].size(), 2u);
  const auto& dev = j["stages"][0];
  EXPECT_EQ(dev["environment"], "dev");
  EXPECT_TRUE(dev["current_version"].is_null());
  ASSERT_EQ(dev["pending"].size(), 2u);
  EXPECT_EQ(dev["pending"][0], json({{"version", "0001"}, {"name", "add_due"}, {"file", "migrations/0001_add_due"}}));
  EXPECT_EQ(dev["pending"][1]["version"], "0002");
  EXPECT_TRUE(dev["refusal"].is_null());
  EXPECT_EQ(dev["rollback"]["method"], "down_sql");
  EXPECT_EQ(dev["rollback"]["reason"], "reversible");
  // staging is protected (not a refusal for plan) and its gate opens once dev succeeds in this run.
  EXPECT_TRUE(j["stages"][1]["refusal"].is_null()) << j.dump(2);

  ASSERT_EQ(project.ferry({"run", "promote", "--env", "dev"}).code, 0);
  j = plan_json(0, {"--env", "dev"});
  EXPECT_EQ(j["stages"][0]["current_version"], "0002");
  EXPECT_TRUE(j["stages"][0]["pending"].empty());
}

TEST_F(PlanJson, AClosedGateIsARefusalWithExit3) {
  auto j = plan_json(3, {"--env", "staging"});
  const auto& st = j["stages"][0];
  ASSERT_FALSE(st["refusal"].is_null()) << j.dump(2);
  EXPECT_EQ(st["refusal"]["kind"], "gate");
  EXPECT_TRUE(contains(st["refusal"]["message"], "dev: 0001_add_due is not applied")) << j.dump(2);
  auto text = project.ferry({"plan", "promote", "--env", "staging"});
  EXPECT_EQ(text.code, 3) << text.all();
  EXPECT_TRUE(contains(text.out, "refused (gate closed)")) << text.out;
  // The run refuses the same stage for the same reason.
  auto r = project.ferry({"run", "promote", "--env", "staging", "--yes"});
  EXPECT_EQ(r.code, 3) << r.all();
  EXPECT_TRUE(contains(r.all(), "dev: 0001_add_due is not applied")) << r.all();
}

TEST_F(PlanJson, DriftIsARefusalWithExit3) {
  ASSERT_EQ(project.ferry({"run", "promote", "--env", "dev"}).code, 0);
  project.write("migrations/0001_add_due/up.sql", "ALTER TABLE tasks ADD COLUMN due timestamptz;");
  auto j = plan_json(3, {"--env", "dev"});
  EXPECT_EQ(j["stages"][0]["refusal"]["kind"], "drift") << j.dump(2);
  EXPECT_TRUE(contains(j["stages"][0]["refusal"]["message"], "0001_add_due")) << j.dump(2);
}

TEST_F(PlanJson, ALockHeldByAnotherSessionIsARefusalWithExit3) {
  auto holder = pg().connect("dev");
  holder->exec("SELECT pg_advisory_lock(1717924466, 1)");
  auto j = plan_json(3, {"--env", "dev"});
  EXPECT_EQ(j["stages"][0]["refusal"]["kind"], "locked") << j.dump(2);
  holder->exec("SELECT pg_advisory_unlock(1717924466, 1)");
  plan_json(0, {"--env", "dev"});
}

}  // namespace

namespace {

// One session-opening sequence for run, rollback and backup: the lock refused the same way
// (exit 3, the holder named), nothing recorded, nothing created.
class SessionOpening : public ::testing::Test {
 protected:
  static PgCluster& pg() {
    static PgCluster cluster;
    return cluster;
  }
  void SetUp() override {
    pg().create_db("app");
    backups = temp_dir("ferry-session-backups");
    project.env("dev", pg(), "app", "backup:\n  dir: " + backups + "\n");
    project.write("playbooks/promote.yaml", "stages: [dev]\nsteps:\n  - migrate\n");
  }
  void TearDown() override { std::filesystem::remove_all(backups); }
  Project project;
  std::string backups;
};

TEST_F(SessionOpening, RunRollbackAndBackupRefuseTheSameWayWhileAnotherSessionHoldsTheLock) {
  auto holder = pg().connect("app");
  holder->exec("SELECT pg_advisory_lock(1717924466, 1)");
  for (const auto& args :
       std::vector<std::vector<std::string>>{{"run", "promote"}, {"rollback", "dev", "--to", "0"}, {"backup", "dev"}}) {
    auto r = project.ferry(args);
    EXPECT_EQ(r.code, 3) << args[0] << "\n" << r.all();
    EXPECT_TRUE(contains(r.out, "refused")) << r.out;
    EXPECT_TRUE(contains(r.all(), "backend pid")) << r.all();
  }
  EXPECT_EQ(pg().value("app", "SELECT to_regclass('ferry.runs') IS NULL"), "t");
  holder->exec("SELECT pg_advisory_unlock(1717924466, 1)");
  EXPECT_EQ(project.ferry({"backup", "dev"}).code, 0);
  EXPECT_EQ(project.ferry({"rollback", "dev", "--to", "0"}).code, 0);
  EXPECT_EQ(pg().value("app", "SELECT string_agg(playbook || ' ' || outcome, ', ' ORDER BY started) FROM ferry.runs"),
            "backup succeeded, rollback succeeded");
}

}  // namespace
