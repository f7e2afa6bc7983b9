// accept-risk recorded in the ledger and protected environments refusing unaccepted high findings:
// the real ferry binary applying real migrations on a real cluster, rows read back.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/app_fixture.hpp"
#include "support/fixtures.hpp"

using namespace ferry::test;
using nlohmann::json;

namespace {

class LintLedger : public AppTest<LintLedger> {
 protected:
  LintLedger() : AppTest({50, "", false}) {}
  void stage(const std::string& env, const std::string& extra = "") {
    project.env(env, pg(), "app", extra);
    project.write("playbooks/promote.yaml", "stages: [" + env + "]\nsteps:\n  - migrate\n");
  }
  std::string column(const std::string& name) {
    return pg().value("app",
                      "SELECT count(*) FROM information_schema.columns WHERE table_name = 'tasks' AND "
                      "column_name = '" +
                          name + "'");
  }
};

TEST_F(LintLedger, AcceptedRiskIsRecordedWhenTheMigrationIsApplied) {
  stage("dev");
  project.migration("0001_idx",
                    "-- ferry:accept-risk FL020 fifty rows, built in milliseconds\n"
                    "CREATE INDEX tasks_title ON tasks (title);",
                    "DROP INDEX tasks_title;");
  project.migration("0002_col", "ALTER TABLE tasks ADD COLUMN note text;", "ALTER TABLE tasks DROP COLUMN note;");
  auto r = project.ferry({"run", "promote"});
  ASSERT_EQ(r.code, 0) << r.all();
  EXPECT_EQ(pg().value("app", "SELECT count(*) FROM ferry.accepted_risks"), "1");
  EXPECT_EQ(pg().value("app",
                       "SELECT version || ' ' || code || ' ' || reason || ' ' || location "
                       "FROM ferry.accepted_risks"),
            "0001 FL020 fifty rows, built in milliseconds migrations/0001_idx/up.sql:2:1");
  EXPECT_EQ(pg().value("app", "SELECT a.run_id = r.id FROM ferry.accepted_risks a, ferry.runs r"), "t");

  auto h = project.ferry({"history", "dev"});
  ASSERT_EQ(h.code, 0) << h.all();
  EXPECT_TRUE(contains(h.out, "accepted risks")) << h.out;
  EXPECT_TRUE(contains(h.out, "0001  FL020  run ")) << h.out;
  EXPECT_TRUE(contains(h.out, "reason: fifty rows, built in milliseconds")) << h.out;
  json j = json::parse(project.ferry({"history", "dev", "--json"}).out);
  ASSERT_EQ(j["accepted_risks"].size(), 1u) << j.dump(2);
  EXPECT_EQ(j["accepted_risks"][0]["code"], "FL020");
  EXPECT_EQ(j["accepted_risks"][0]["version"], "0001");
}

TEST_F(LintLedger, ProtectedRefusesAnUnacceptedHighFindingBeforeAnyChange) {
  stage("prod", "protected: true\n");
  project.migration("0001_rename", "ALTER TABLE tasks RENAME COLUMN title TO name;",
                    "ALTER TABLE tasks RENAME COLUMN name TO title;");
  auto r = project.ferry({"run", "promote", "--yes"});
  EXPECT_EQ(r.code, 3) << r.all();
  EXPECT_TRUE(contains(r.all(), "'prod' is protected and 1 lint finding(s) at high not accepted")) << r.all();
  EXPECT_TRUE(contains(r.all(), "migrations/0001_rename/up.sql:1:1: FL007 high")) << r.all();
  EXPECT_TRUE(contains(r.all(), "-- ferry:accept-risk FL007 WHY THE RISK IS ACCEPTED")) << r.all();
  EXPECT_EQ(column("title"), "1");
  EXPECT_EQ(pg().value("app", "SELECT count(*) FROM ferry.migrations"), "0");

  project.migration("0001_rename",
                    "-- ferry:accept-risk FL007 the application reads both names since 2.3\n"
                    "ALTER TABLE tasks RENAME COLUMN title TO name;",
                    "ALTER TABLE tasks RENAME COLUMN name TO title;");
  r = project.ferry({"run", "promote", "--yes"});
  ASSERT_EQ(r.code, 0) << r.all();
  EXPECT_EQ(column("name"), "1");
  EXPECT_EQ(pg().value("app", "SELECT code || ': ' || reason FROM ferry.accepted_risks"),
            "FL007: the application reads both names since 2.3");
}

TEST_F(LintLedger, UnprotectedOnlyWarns) {
  stage("dev");
  project.migration("0001_rename", "ALTER TABLE tasks RENAME COLUMN title TO name;",
                    "ALTER TABLE tasks RENAME COLUMN name TO title;");
  auto r = project.ferry({"run", "promote"});
  ASSERT_EQ(r.code, 0) << r.all();
  EXPECT_TRUE(contains(r.all(), "1 lint finding(s) at high not accepted")) << r.all();
  EXPECT_EQ(column("name"), "1");
}

}  // namespace
