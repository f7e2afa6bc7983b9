// `ferry lint` with the real binary on a real cluster: exit codes, --json, accept-risk, levels
// scaled by the target's real table sizes, per-stage pending, `ferry plan`, and the lock each
// rule claims checked against pg_locks while the statement's transaction is open.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/text.hpp"
#include "support/fixtures.hpp"

using namespace ferry::test;
using nlohmann::json;

namespace {

class LintCli : public ::testing::Test {
 protected:
  static PgCluster& pg() {
    static PgCluster cluster;
    return cluster;
  }
  void SetUp() override {
    pg().create_db("app");
    pg().exec("app",
              "CREATE TABLE users (id bigint PRIMARY KEY);"
              "CREATE TABLE tasks (id bigserial PRIMARY KEY, title text, owner bigint, created_at timestamptz);"
              "INSERT INTO tasks (title) SELECT 'task ' || g FROM generate_series(1, 500) g;");
    pg().exec("app", "VACUUM ANALYZE tasks");
    project.env("dev", pg(), "app");
    project.write("playbooks/promote.yaml", "stages: [dev]\nsteps:\n  - migrate\n");
  }
  json lint_json(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"lint", "promote", "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = project.ferry(args);
    EXPECT_TRUE(r.code == 0 || r.code == 3) << r.all();
    return json::parse(r.out);
  }
  // The first finding `code` of the first target naming it.
  static json finding(const json& report, const std::string& code, size_t target = 0) {
    for (const auto& m : report["targets"][target]["migrations"])
      for (const auto& f : m["findings"])
        if (f["code"] == code) return f;
    ADD_FAILURE() << code << " not in " << report.dump(2);
    return json::object();
  }
  Project project;
};

TEST_F(LintCli, ExitCodeFollowsFailOn) {
  project.migration("0001_idx", "CREATE INDEX tasks_title ON tasks (title);");
  auto r = project.ferry({"lint", "promote"});
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_TRUE(contains(r.out, "migrations/0001_idx/up.sql:1:1: FL020 low: CREATE INDEX on tasks")) << r.out;
  EXPECT_TRUE(contains(r.out, "SHARE lock, scans the table; tasks: ~500 rows")) << r.out;
  EXPECT_TRUE(contains(r.out, "safe: CREATE INDEX CONCURRENTLY in a `-- ferry:no-transaction` migration")) << r.out;
  EXPECT_TRUE(contains(r.out, "nothing reaches --fail-on high")) << r.out;
  EXPECT_EQ(project.ferry({"lint", "promote", "--fail-on", "low"}).code, 3);
  project.migration("0002_drop", "-- ferry:irreversible\nDROP TABLE tasks;");
  r = project.ferry({"lint", "promote"});
  EXPECT_EQ(r.code, 3) << r.all();
  EXPECT_TRUE(contains(r.out, "migrations/0002_drop/up.sql:2:1: FL030 high: DROP table tasks")) << r.out;
  EXPECT_TRUE(contains(r.out, "1 reach --fail-on high")) << r.out;
  // Without a playbook: migrations/ against every environment.
  auto all = project.ferry({"lint"});
  EXPECT_EQ(all.code, 3) << all.all();
  EXPECT_TRUE(contains(all.out, "lint migrations/  (fail on high)\nstage dev")) << all.out;
  // Nothing was changed by linting.
  EXPECT_EQ(pg().value("app", "SELECT count(*) FROM tasks"), "500");
  EXPECT_EQ(pg().value("app", "SELECT count(*) FROM pg_indexes WHERE indexname = 'tasks_title'"), "0");
}

TEST_F(LintCli, ConfigurationErrorsExit64) {
  project.migration("0001_drop", "-- ferry:accept-risk FL030\nDROP TABLE tasks;");
  auto r = project.ferry({"lint", "promote"});
  EXPECT_EQ(r.code, 64) << r.all();
  EXPECT_TRUE(contains(r.err, "migrations/0001_drop/up.sql:1: ferry:accept-risk FL030 needs a reason")) << r.err;
  project.migration("0001_drop", "-- ferry:accept-risk FL300 old table\nDROP TABLE tasks;");
  r = project.ferry({"lint", "promote"});
  EXPECT_EQ(r.code, 64) << r.all();
  EXPECT_TRUE(contains(r.err, "names no lint rule 'FL300'")) << r.err;
  EXPECT_EQ(project.ferry({"lint", "promote", "--fail-on", "severe"}).code, 64);
  EXPECT_EQ(project.ferry({"lint", "promot"}).code, 64);
  project.migration("0001_drop", "DROP TABLE tasks; SELEC 1;");
  r = project.ferry({"lint", "promote"});
  EXPECT_EQ(r.code, 64) << r.all();
  EXPECT_TRUE(contains(r.err, "migrations/0001_drop/up.sql:1:19: syntax error")) << r.err;
}

TEST_F(LintCli, JsonNamesCodeLevelPositionLockAndSafeForm) {
  project.migration("0001_not_null", "SELECT 1;\n\nALTER TABLE tasks ALTER COLUMN title SET NOT NULL;");
  auto j = lint_json();
  EXPECT_EQ(j["exit_code"], 0);
  EXPECT_EQ(j["fail_on"], "high");
  ASSERT_EQ(j["targets"].size(), 1u);
  EXPECT_EQ(j["targets"][0]["stage"], "dev");
  EXPECT_EQ(j["targets"][0]["reachable"], true);
  auto f = finding(j, "FL006");
  EXPECT_EQ(f["level"], "low");
  EXPECT_EQ(f["file"], "migrations/0001_not_null/up.sql");
  EXPECT_EQ(f["line"], 3);
  EXPECT_EQ(f["col"], 1);
  EXPECT_EQ(f["table"], "tasks");
  EXPECT_EQ(f["lock"], "AccessExclusiveLock");
  EXPECT_EQ(f["work"], "scans the table");
  EXPECT_EQ(f["rows"], 500);
  EXPECT_GT(f["bytes"].get<long long>(), 0);
  EXPECT_TRUE(contains(f["safe"].get<std::string>(), "NOT VALID")) << f.dump();
  EXPECT_EQ(f["accepted"], false);
}

TEST_F(LintCli, AcceptRiskSilencesTheFindingAndSaysWhy) {
  project.migration("0001_drop",
                    "-- ferry:irreversible\n-- ferry:accept-risk FL030 replaced by jobs in release 41\n"
                    "DROP TABLE tasks;\nTRUNCATE users;\n");
  auto r = project.ferry({"lint", "promote"});
  EXPECT_EQ(r.code, 3) << r.all();  // TRUNCATE is still high
  EXPECT_TRUE(contains(r.out, "FL030 high (accepted: replaced by jobs in release 41): DROP table tasks")) << r.out;
  project.migration("0001_drop",
                    "-- ferry:irreversible\n-- ferry:accept-risk FL030 replaced by jobs in release 41\n"
                    "DROP TABLE tasks;\n");
  auto j = lint_json();
  EXPECT_EQ(j["exit_code"], 0);
  auto f = finding(j, "FL030");
  EXPECT_EQ(f["accepted"], true);
  EXPECT_EQ(f["reason"], "replaced by jobs in release 41");
  EXPECT_EQ(project.ferry({"lint", "promote"}).code, 0);
}

TEST_F(LintCli, LevelGrowsWithTheTableOnEachTarget) {
  pg().create_db("big");
  pg().exec("big",
            "CREATE TABLE tasks (id bigserial PRIMARY KEY, title text);"
            "INSERT INTO tasks (title) SELECT 'task ' || g FROM generate_series(1, 200000) g;");
  pg().exec("big", "VACUUM ANALYZE tasks");
  project.env("production", pg(), "big");
  project.write("playbooks/promote.yaml", "stages: [dev, production]\nsteps:\n  - migrate\n");
  project.migration("0001_type", "ALTER TABLE tasks ALTER COLUMN id TYPE numeric;");
  auto j = lint_json();
  EXPECT_EQ(finding(j, "FL005", 0)["level"], "low");  // 500 rows
  auto prod = finding(j, "FL005", 1);
  EXPECT_EQ(prod["level"], "medium");  // 200,000 rows: medium from 100,000
  EXPECT_EQ(prod["size"], "medium");
  EXPECT_NEAR(prod["rows"].get<double>(), 200000, 2000);
  EXPECT_EQ(j["exit_code"], 0);
  // Thresholds are flags: large from 150,000 rows makes production high, and the exit 3.
  j = lint_json({"--high-rows", "150000"});
  EXPECT_EQ(finding(j, "FL005", 1)["level"], "high");
  EXPECT_EQ(finding(j, "FL005", 0)["level"], "low");
  EXPECT_EQ(j["exit_code"], 3);
  // Offline, the size is unknown: the rule's worst level.
  auto r = project.ferry({"lint", "promote", "--offline", "--json"});
  EXPECT_EQ(r.code, 3) << r.all();
  auto off = json::parse(r.out);
  EXPECT_TRUE(off["targets"][0]["stage"].is_null());
  EXPECT_EQ(finding(off, "FL005")["level"], "high");
  EXPECT_EQ(finding(off, "FL005")["size"], "unknown");
}

TEST_F(LintCli, PendingIsPerStageAndAnUnreachableStageLintsEverything) {
  pg().create_db("staging");
  pg().exec("staging", "CREATE TABLE users (id bigint PRIMARY KEY); CREATE TABLE tasks (id bigserial, title text);");
  project.env("staging", pg(), "staging");
  project.write("environments/production.yaml", "database: {name: nowhere, user: postgres, host: 127.0.0.1, port: " +
                                                    std::to_string(free_port()) + "}\n");
  project.write("playbooks/promote.yaml", "stages: [dev, staging, production]\nsteps:\n  - migrate\n");
  project.migration("0001_idx", "CREATE INDEX tasks_title ON tasks (title);", "DROP INDEX tasks_title;");
  ASSERT_EQ(project.ferry({"run", "promote", "--env", "dev"}).code, 0);
  project.migration("0002_rename", "ALTER TABLE tasks RENAME COLUMN title TO name;",
                    "ALTER TABLE tasks RENAME COLUMN name TO title;");
  auto r = project.ferry({"lint", "promote", "--json"});
  ASSERT_EQ(r.code, 3) << r.all();  // the rename is high
  auto j = json::parse(r.out);
  ASSERT_EQ(j["targets"].size(), 3u);
  ASSERT_EQ(j["targets"][0]["migrations"].size(), 1u);  // dev: 0001 applied
  EXPECT_EQ(j["targets"][0]["migrations"][0]["id"], "0002_rename");
  EXPECT_EQ(j["targets"][1]["migrations"].size(), 2u);
  EXPECT_EQ(finding(j, "FL007", 1)["table"], "tasks");
  EXPECT_EQ(j["targets"][2]["reachable"], false);
  EXPECT_FALSE(j["targets"][2]["error"].is_null());
  EXPECT_EQ(j["targets"][2]["migrations"].size(), 2u);
  auto text = project.ferry({"lint", "promote"});
  EXPECT_TRUE(contains(text.out, "every migration of the directory is linted; sizes unknown")) << text.out;
}

TEST_F(LintCli, PlanShowsTheFindingsOfEachPendingMigration) {
  project.migration("0001_idx", "CREATE INDEX tasks_title ON tasks (title);");
  project.migration("0002_col", "ALTER TABLE tasks ADD COLUMN due date;");
  project.migration("0003_view", "CREATE VIEW v AS SELECT 1 AS one;");
  auto r = project.ferry({"plan", "promote"});
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_TRUE(contains(r.out, "  lint 0001_idx: FL020 low (tasks)\n")) << r.out;
  EXPECT_TRUE(contains(r.out, "  lint 0002_col: FL001 low (tasks)\n")) << r.out;
  EXPECT_FALSE(contains(r.all(), "lint 0003_view")) << r.out;
}

// The lock each rule names is the lock PostgreSQL really takes: the statement runs in an open
// transaction and pg_locks of that backend is read before ROLLBACK.
TEST_F(LintCli, ClaimedLockIsTheLockTheStatementTakes) {
  struct Case {
    const char* code;
    const char* sql;
  } cases[] = {
      {"FL020", "CREATE INDEX tasks_title ON tasks (title)"},
      {"FL005", "ALTER TABLE tasks ALTER COLUMN title TYPE varchar(300)"},
      {"FL006", "ALTER TABLE tasks ALTER COLUMN title SET NOT NULL"},
      {"FL011", "ALTER TABLE tasks ADD CONSTRAINT tasks_owner FOREIGN KEY (owner) REFERENCES users (id)"},
      {"FL035", "UPDATE tasks SET title = upper(title)"},
      {"FL001", "ALTER TABLE tasks ADD COLUMN due date"},
      {"FL010", "ALTER TABLE tasks ADD CONSTRAINT tasks_id_positive CHECK (id > 0)"},
      {"FL012", "ALTER TABLE tasks ADD CONSTRAINT tasks_title_key UNIQUE (title)"},
      {"FL023", "REINDEX TABLE tasks"},
      {"FL033", "TRUNCATE tasks"},
      {"FL040", "CLUSTER tasks USING tasks_pkey"},
  };
  // Lock modes from weakest to strongest (PostgreSQL's table-level order).
  const std::vector<std::string> order = {
      "AccessShareLock", "RowShareLock",          "RowExclusiveLock", "ShareUpdateExclusiveLock",
      "ShareLock",       "ShareRowExclusiveLock", "ExclusiveLock",    "AccessExclusiveLock"};
  for (const auto& c : cases) {
    project.migration("0001_m", std::string(c.sql) + ";");
    auto f = finding(lint_json(), c.code);
    std::string lock = f["lock"].get<std::string>(), table = f["table"].get<std::string>();
    auto conn = pg().connect("app");
    conn->exec("BEGIN");
    conn->exec(c.sql);
    auto r =
        conn->exec("SELECT mode FROM pg_locks WHERE locktype = 'relation' AND pid = pg_backend_pid() AND relation = " +
                   ferry::db::quote_literal(table) + "::regclass");
    std::vector<std::string> held;
    for (int i = 0; i < r.rows(); ++i) held.push_back(r.text(i, 0));
    conn->exec("ROLLBACK");
    ASSERT_FALSE(held.empty()) << c.sql;
    std::string strongest = held[0];
    for (const auto& h : held)
      if (std::find(order.begin(), order.end(), h) > std::find(order.begin(), order.end(), strongest)) strongest = h;
    EXPECT_EQ(strongest, lock) << c.code << ": " << c.sql;
  }
}

TEST_F(LintCli, RulesPageIsTheRuleTable) {
  auto r = project.ferry({"lint", "--rules"});
  ASSERT_EQ(r.code, 0) << r.all();
  EXPECT_EQ(r.out, ferry::read_file(source_dir() + "/docs/lint.md"))
      << "docs/lint.md is out of date: ferry lint --rules > docs/lint.md";
}

}  // namespace
