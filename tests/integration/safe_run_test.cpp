// The safe run: verified backups, verify, restart, health, and the proven rollback, against a
// real PostgreSQL cluster and a real HTTP backend whose health depends on the schema.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/text.hpp"
#include "support/fixtures.hpp"
#include "transport/transport.hpp"

namespace fs = std::filesystem;
using namespace ferry::test;
using nlohmann::json;

namespace {

const char* k_base_schema =
    "CREATE TABLE tasks (id bigserial PRIMARY KEY, title text NOT NULL, created_at timestamptz DEFAULT now());"
    "INSERT INTO tasks (title) SELECT 'task ' || g FROM generate_series(1, 500) g;";

class SafeRun : public ::testing::Test {
 protected:
  static PgCluster& pg() {
    static PgCluster cluster;
    return cluster;
  }
  void SetUp() override {
    pg().create_db("app");
    pg().exec("app", k_base_schema);
    backend = std::make_unique<Backend>(pg(), "app", "tasks.title");
    backups = temp_dir("ferry-backups");
    write_env("dev", "app", *backend);
  }
  void TearDown() override { fs::remove_all(backups); }
  void write_env(const std::string& name, const std::string& db, const Backend& be, const std::string& extra = "") {
    project.env(name, pg(), db, "backup:\n  dir: " + backups + "/" + name + "\n" + be.yaml() + extra);
  }
  std::string q(const std::string& sql, const std::string& db = "app") { return pg().value(db, sql); }
  std::string fingerprint(const std::string& env = "dev") {
    auto st = project.ferry({"status", "--env", env, "--json"});
    return json::parse(st.out)[0]["fingerprint"].get<std::string>();
  }
  bool healthy() {
    ferry::transport::LocalTransport t;
    auto r = t.run(ferry::transport::Command::shell("curl -s -o /dev/null -w '%{http_code}' " + backend->health_url()));
    return r.out == "200";
  }
  void playbook(const std::string& steps, const std::string& extra = "") {
    project.write("playbooks/promote.yaml", "stages: [dev]\nsteps:\n" + steps + extra);
  }
  static constexpr const char* k_full_steps =
      "  - backup\n  - migrate\n  - verify:\n      columns:\n        - tasks.due_date: timestamp with time zone\n"
      "      row_counts: all\n  - restart: backend\n  - health: backend\n";

  Project project;
  std::unique_ptr<Backend> backend;
  std::string backups;
};

TEST_F(SafeRun, HappyPathOnThreeStagesBehindGates) {
  pg().create_db("staging");
  pg().exec("staging", k_base_schema);
  pg().create_db("production");
  pg().exec("production", k_base_schema);
  Backend be_staging(pg(), "staging", "tasks.title,tasks.due_date");
  Backend be_prod(pg(), "production", "tasks.title,tasks.due_date");
  write_env("staging", "staging", be_staging, "requires: [dev]\n");
  write_env("production", "production", be_prod, "requires: [staging]\nprotected: true\n");
  project.migration("0001_due_date", "ALTER TABLE tasks ADD COLUMN due_date timestamptz;",
                    "ALTER TABLE tasks DROP COLUMN due_date;");
  project.write("playbooks/promote.yaml", std::string("stages: [dev, staging, production]\nsteps:\n") + k_full_steps);
  std::string report = project.path("report.json");
  auto r = project.ferry({"run", "promote", "--yes", "--report", report});
  ASSERT_EQ(r.code, 0) << r.all();
  for (const char* db : {"app", "staging", "production"}) {
    EXPECT_EQ(q("SELECT count(*) FROM ferry.migrations", db), "1");
    EXPECT_EQ(q("SELECT count(*) FROM tasks", db), "500");
    EXPECT_EQ(q("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'tasks'::regclass AND "
                "attname = 'due_date'",
                db),
              "timestamp with time zone");
  }
  EXPECT_TRUE(contains(r.out, "gate                   open: 1 pending verified in dev")) << r.out;
  EXPECT_TRUE(contains(r.out, "healthy (" + be_prod.health_url())) << r.out;
  // Each stage's backup: the file and its sidecar, verified, with the pre-run version and counts.
  for (const char* env : {"dev", "staging", "production"}) {
    auto list = json::parse(project.ferry({"backups", env, "--json"}).out);
    ASSERT_EQ(list.size(), 1u) << env;
    EXPECT_TRUE(list[0]["verified"].get<bool>());
    EXPECT_EQ(list[0]["row_counts"]["public.tasks"], 500);
    EXPECT_EQ(list[0]["version"], "");
    EXPECT_EQ(list[0]["sha256"].get<std::string>().size(), 64u);
    std::string file = list[0]["file"];
    EXPECT_TRUE(fs::exists(file)) << file;
    EXPECT_EQ(ferry::sha256_hex(ferry::read_file(file)), list[0]["sha256"]);
  }
  auto rep = json::parse(project.read("report.json"));
  EXPECT_EQ(rep["outcome"], "succeeded");
  EXPECT_EQ(rep["exit_code"], 0);
  EXPECT_GE(rep["events"].size(), 20u);
}

TEST_F(SafeRun, ThirdOfFiveFailsAndTheFirstTwoAreRevertedAndProven) {
  std::string fp = fingerprint();
  for (int i = 1; i <= 5; ++i)
    project.migration("000" + std::to_string(i) + "_m" + std::to_string(i),
                      "ALTER TABLE tasks ADD COLUMN c" + std::to_string(i) + " int;" + (i == 3 ? " SELECT 1/0;" : ""),
                      "ALTER TABLE tasks DROP COLUMN c" + std::to_string(i) + ";");
  playbook("  - backup\n  - migrate: {transaction: each}\n  - restart: backend\n  - health: backend\n");
  auto r = project.ferry({"run", "promote"});
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(contains(r.out, "division by zero")) << r.out;
  EXPECT_TRUE(contains(r.out, "reverted 2 by down SQL")) << r.out;
  EXPECT_TRUE(contains(r.out, "row counts as before")) << r.out;
  EXPECT_EQ(fingerprint(), fp);
  EXPECT_EQ(q("SELECT count(*) FROM ferry.migrations"), "0");
  EXPECT_EQ(q("SELECT count(*) FROM tasks"), "500");
  EXPECT_EQ(q("SELECT outcome FROM ferry.runs"), "rolled_back");
}

TEST_F(SafeRun, VerifyFailureSaysWhatAndRollsBack) {
  std::string fp = fingerprint();
  project.migration("0001_due_date", "ALTER TABLE tasks ADD COLUMN due_date date;",
                    "ALTER TABLE tasks DROP COLUMN due_date;");
  playbook(k_full_steps);
  auto r = project.ferry({"run", "promote"});
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(contains(r.out, "column tasks.due_date: expected type 'timestamp with time zone', found 'date'"))
      << r.out;
  EXPECT_EQ(fingerprint(), fp);
  EXPECT_EQ(q("SELECT count(*) FROM ferry.migrations"), "0");
}

TEST_F(SafeRun, HealthFailureAfterRestartIsRolledBackAndTheBackendIsHealthyAgain) {
  std::string fp = fingerprint();
  ASSERT_TRUE(healthy());
  project.migration("0001_rename", "ALTER TABLE tasks RENAME COLUMN title TO name;",
                    "ALTER TABLE tasks RENAME COLUMN name TO title;");
  playbook("  - backup\n  - migrate\n  - restart: backend\n  - health: backend\n");
  auto r = project.ferry({"run", "promote"});
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(contains(r.out, "backend unhealthy after")) << r.out;
  EXPECT_TRUE(contains(r.out, "column does not exist")) << r.out;
  EXPECT_TRUE(contains(r.out, "undo restart backend")) << r.out;
  EXPECT_TRUE(contains(r.out, "backend healthy")) << r.out;
  EXPECT_TRUE(healthy());
  EXPECT_EQ(fingerprint(), fp);
}

TEST_F(SafeRun, FailingDownSqlFallsBackToTheBackupAndNewObjectsAreGone) {
  std::string fp = fingerprint();
  project.migration("0001_x", "CREATE TABLE x (id int); INSERT INTO x VALUES (1);", "DROP TABLE no_such_table;");
  playbook(
      "  - backup\n  - migrate\n  - sql: CREATE TABLE made_by_the_run (id int)\n"
      "  - verify:\n      sql:\n        - SELECT false\n");
  auto r = project.ferry({"run", "promote"});
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(contains(r.out, "down SQL of 0001_x failed")) << r.out;
  EXPECT_TRUE(contains(r.out, "restored backup dev-")) << r.out;
  EXPECT_TRUE(contains(r.out, "row counts as before")) << r.out;
  EXPECT_EQ(q("SELECT to_regclass('x') IS NULL AND to_regclass('made_by_the_run') IS NULL"), "t");
  EXPECT_EQ(q("SELECT count(*) FROM ferry.migrations"), "0");
  EXPECT_EQ(q("SELECT count(*) FROM tasks"), "500");
  EXPECT_EQ(fingerprint(), fp);
}

TEST_F(SafeRun, RestoreImpossibleGivesExit2AndTheManualCommand) {
  project.migration("0001_drop", "ALTER TABLE tasks DROP COLUMN created_at;",
                    "ALTER TABLE tasks ADD COLUMN created_at timestamptz DEFAULT now();");
  playbook("  - backup\n  - migrate\n  - run: rm -rf " + backups + "/dev\n  - verify:\n      sql: [SELECT false]\n");
  auto r = project.ferry({"run", "promote"});
  EXPECT_EQ(r.code, 2) << r.all();
  EXPECT_TRUE(contains(r.out, "restore failed")) << r.out;
  EXPECT_TRUE(contains(r.all(), "a human must act")) << r.all();
  EXPECT_TRUE(contains(r.all(), "or by hand: zstd -dc " + backups + "/dev/dev-")) << r.all();
  EXPECT_TRUE(contains(r.all(), "| pg_restore -h 127.0.0.1 -p " + std::to_string(pg().port()))) << r.all();
  EXPECT_EQ(q("SELECT outcome FROM ferry.runs"), "needs_attention");
}

TEST_F(SafeRun, DataLossGuardRestoresTheBackupInsteadOfDownSql) {
  pg().create_db("app");
  pg().load_pagila("app");
  backend = std::make_unique<Backend>(pg(), "app", "customer.email");
  write_env("dev", "app", *backend);
  std::string fp = fingerprint();
  std::string emails = q("SELECT md5(string_agg(email, ',' ORDER BY customer_id)) FROM customer");
  std::string payments = q("SELECT count(*) FROM payment");
  project.migration("0001_drop_email", "ALTER TABLE customer DROP COLUMN email;",
                    "ALTER TABLE customer ADD COLUMN email text;");
  playbook("  - backup\n  - migrate\n  - restart: backend\n  - health: backend\n");
  auto plan = project.ferry({"plan", "promote"});
  EXPECT_TRUE(contains(plan.out, "roll back by restore backup (0001_drop_email drops column 'email')")) << plan.out;
  auto r = project.ferry({"run", "promote"});
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(contains(r.out, "restored backup dev-")) << r.out;
  EXPECT_FALSE(contains(r.all(), "by down SQL")) << r.out;
  EXPECT_EQ(q("SELECT md5(string_agg(email, ',' ORDER BY customer_id)) FROM customer"), emails);
  EXPECT_EQ(fingerprint(), fp);
  EXPECT_EQ(q("SELECT count(*) FROM rental"), "16044");
  EXPECT_EQ(q("SELECT count(*) FROM payment"), payments);
}

TEST_F(SafeRun, AFailedStageStopsThePlaybookAndEarlierStagesKeepTheirSuccess) {
  pg().create_db("staging");
  pg().exec("staging", k_base_schema);
  pg().exec("staging", "CREATE TABLE a (id int)");  // staging already has what 0001 creates: it fails there
  write_env("staging", "staging", *backend, "requires: [dev]\n");
  pg().create_db("production");
  write_env("production", "production", *backend, "requires: [staging]\n");
  project.migration("0001_a", "CREATE TABLE a (id int);", "DROP TABLE a;");
  project.write("playbooks/promote.yaml", "stages: [dev, staging, production]\nsteps: [backup, migrate]\n");
  auto r = project.ferry({"run", "promote"});
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(contains(r.out, "stage dev succeeded")) << r.out;
  EXPECT_TRUE(contains(r.out, "relation \"a\" already exists")) << r.out;
  EXPECT_FALSE(contains(r.all(), "stage production")) << r.out;
  EXPECT_EQ(q("SELECT count(*) FROM ferry.migrations"), "1");                  // dev keeps it
  EXPECT_EQ(q("SELECT count(*) FROM ferry.migrations", "staging"), "0");       // staging as before
  EXPECT_EQ(q("SELECT to_regnamespace('ferry') IS NULL", "production"), "t");  // never touched
}

TEST_F(SafeRun, GateRefusesListingWhatIsMissing) {
  pg().create_db("staging");
  pg().exec("staging", k_base_schema);
  write_env("staging", "staging", *backend, "requires: [dev]\n");
  project.migration("0001_a", "CREATE TABLE a (id int);", "DROP TABLE a;");
  project.write("playbooks/promote.yaml", "stages: [dev, staging]\nsteps: [migrate]\n");
  auto r = project.ferry({"run", "promote", "--env", "staging"});
  EXPECT_EQ(r.code, 3) << r.all();
  EXPECT_TRUE(contains(r.all(), "gate: 'staging' requires what is missing:\n  dev: 0001_a is not applied")) << r.all();
  EXPECT_EQ(q("SELECT to_regclass('a') IS NULL", "staging"), "t");
  // after dev, the gate opens
  ASSERT_EQ(project.ferry({"run", "promote", "--env", "dev"}).code, 0);
  EXPECT_EQ(project.ferry({"run", "promote", "--env", "staging"}).code, 0);
  // a changed checksum in staging's files versus dev's ledger closes it again
  project.migration("0002_b", "CREATE TABLE b (id int);", "DROP TABLE b;");
  ASSERT_EQ(project.ferry({"run", "promote", "--env", "dev"}).code, 0);
  project.migration("0002_b", "CREATE TABLE b (id bigint);", "DROP TABLE b;");
  r = project.ferry({"run", "promote", "--env", "staging"});
  EXPECT_EQ(r.code, 3) << r.all();
  EXPECT_TRUE(contains(r.all(), "dev: 0002_b was applied with a different checksum")) << r.all();
}

TEST_F(SafeRun, ProtectedEnvironmentNeedsYes) {
  write_env("dev", "app", *backend, "protected: true\n");
  project.migration("0001_a", "CREATE TABLE a (id int);", "DROP TABLE a;");
  playbook("  - migrate\n");
  auto r = project.ferry({"run", "promote"});
  EXPECT_EQ(r.code, 3) << r.all();
  EXPECT_TRUE(contains(r.all(), "environment 'dev' is protected: pass --yes, or type its name at a terminal"))
      << r.all();
  EXPECT_EQ(q("SELECT to_regclass('a') IS NULL"), "t");
  auto rb = project.ferry({"rollback", "dev", "--to", "0"});
  EXPECT_EQ(rb.code, 3) << rb.all();
  EXPECT_EQ(project.ferry({"run", "promote", "--yes"}).code, 0);
}

TEST_F(SafeRun, SigtermDuringALongMigrationRollsBack) {
  std::string fp = fingerprint();
  project.migration("0001_a", "ALTER TABLE tasks ADD COLUMN a int;", "ALTER TABLE tasks DROP COLUMN a;");
  project.migration("0002_slow", "SELECT pg_sleep(30);", "SELECT 1;");
  playbook("  - backup\n  - migrate: {transaction: each}\n  - restart: backend\n");
  Background run({ferry_binary(), "-C", project.root(), "run", "promote"});
  // The backup comes first: on a loaded machine it alone can outlast a short bound, and the
  // SIGTERM would then land in the backup instead of the migration.
  ASSERT_TRUE(wait_until([&] {
    return q("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(30)%' AND pid <> pg_backend_pid()") ==
           "1";
  }));
  auto t0 = std::chrono::steady_clock::now();
  run.signal(SIGTERM);
  auto r = run.wait();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(15));
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(contains(r.out, "interrupted by SIGTERM")) << r.out;
  EXPECT_TRUE(contains(r.out, "reverted 1 by down SQL")) << r.out;
  EXPECT_EQ(fingerprint(), fp);
  EXPECT_EQ(q("SELECT count(*) FROM ferry.migrations"), "0");
  EXPECT_EQ(q("SELECT outcome FROM ferry.runs"), "rolled_back");
}

// A second SIGTERM (or a second Ctrl-C) while the rollback runs is ignored: the down SQL is not
// cut half-way, the rollback finishes and is proven. (Before, the second signal set the flag the
// rollback had cleared, and the down stopped before its second statement.)
TEST_F(SafeRun, ASecondSigtermDuringTheRollbackDoesNotCutTheDownSql) {
  std::string fp = fingerprint();
  project.migration("0001_a", "ALTER TABLE tasks ADD COLUMN a int;",
                    "SELECT pg_sleep(3);\nALTER TABLE tasks DROP COLUMN a;");
  project.migration("0002_slow", "SELECT pg_sleep(30);", "SELECT 1;");
  playbook("  - migrate: {transaction: each}\n");
  Background run({ferry_binary(), "-C", project.root(), "run", "promote"});
  auto running = [&](const std::string& call) {
    return q("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%" + call + "%' AND pid <> pg_backend_pid()") ==
           "1";
  };
  ASSERT_TRUE(wait_until([&] { return running("pg_sleep(30)"); }));
  run.signal(SIGTERM);
  ASSERT_TRUE(wait_until([&] { return running("pg_sleep(3)"); })) << "the down SQL never started";
  run.signal(SIGTERM);
  auto r = run.wait();
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(contains(r.out, "reverted 1 by down SQL")) << r.out;
  EXPECT_EQ(fingerprint(), fp);
  EXPECT_EQ(q("SELECT count(*) FROM ferry.migrations"), "0");
}

TEST_F(SafeRun, SigtermDuringABackupStopsItAndLeavesNoPartialFile) {
  project.migration("0001_a", "CREATE TABLE a (id int);", "DROP TABLE a;");
  playbook("  - backup\n  - migrate\n");
  // Enough data for a backup that takes a few seconds.
  pg().exec(
      "app",
      "CREATE TABLE big AS SELECT g AS id, md5(g::text) || md5((g * 3)::text) AS a FROM generate_series(1, 3000000) g");
  Background run({ferry_binary(), "-C", project.root(), "run", "promote"});
  ASSERT_TRUE(wait_until([&] {
    return q("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pg_dump' AND query LIKE 'COPY%'") == "1";
  }));
  run.signal(SIGTERM);
  auto r = run.wait();
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(contains(r.out, "interrupted by SIGTERM")) << r.all();
  EXPECT_EQ(q("SELECT to_regclass('a') IS NULL"), "t");
  size_t files = 0;
  if (fs::exists(backups + "/dev"))
    for (const auto& e : fs::directory_iterator(backups + "/dev")) files += e.is_regular_file() || e.is_fifo();
  EXPECT_EQ(files, 0u);
}

TEST_F(SafeRun, ARunKilledMidWayIsReportedAsAbandonedByTheNextOne) {
  project.migration("0001_slow", "SELECT pg_sleep(30);", "SELECT 1;");
  playbook("  - migrate\n");
  {
    Background run({ferry_binary(), "-C", project.root(), "run", "promote"}, {{"FERRY_OPERATOR", "carol"}});
    ASSERT_TRUE(wait_until([&] {
      return q("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(30)%' AND pid <> pg_backend_pid()") ==
             "1";
    }));
    run.signal(SIGKILL);
    run.wait();
  }
  // Its session dies with it; the lock is free again once the server notices.
  for (int i = 0;
       i < 100 &&
       q("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(30)%' AND pid <> pg_backend_pid()") != "0";
       ++i) {
    pg().exec("app",
              "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(30)%' AND pid <> "
              "pg_backend_pid()");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  project.migration("0001_slow", "SELECT 1;", "SELECT 1;");
  auto r = project.ferry({"run", "promote"});
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_TRUE(contains(r.all(), "by carol on ")) << r.all();
  EXPECT_TRUE(contains(r.all(), "never finished; it is marked abandoned")) << r.all();
  EXPECT_EQ(q("SELECT outcome FROM ferry.runs WHERE operator = 'carol'"), "abandoned");
}

TEST_F(SafeRun, UnwritableBackupDirectoryStopsBeforeAnyChange) {
  project.write("a-file", "not a directory");
  project.env("dev", pg(), "app", "backup:\n  dir: " + project.path("a-file/backups") + "\n");
  project.migration("0001_a", "CREATE TABLE a (id int);", "DROP TABLE a;");
  playbook("  - backup\n  - migrate\n");
  auto r = project.ferry({"run", "promote"});
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(contains(r.out, "cannot create backup directory")) << r.out;
  EXPECT_EQ(q("SELECT to_regclass('a') IS NULL"), "t");
}

TEST_F(SafeRun, FullDiskStopsBeforeAnyChangeAndLeavesNoPartialFile) {
  std::string dir = temp_dir("ferry-full");
  if (mount("tmpfs", dir.c_str(), "tmpfs", 0, "size=32k") != 0) GTEST_SKIP() << "cannot mount a small tmpfs here";
  pg().exec("app",
            "INSERT INTO tasks (title) SELECT md5(g::text) || md5((g * 7)::text) FROM generate_series(1, 20000) g");
  project.env("dev", pg(), "app", "backup:\n  dir: " + dir + "\n");
  project.migration("0001_a", "CREATE TABLE a (id int);", "DROP TABLE a;");
  playbook("  - backup\n  - migrate\n");
  auto r = project.ferry({"run", "promote"});
  std::vector<std::string> left;
  for (const auto& e : fs::directory_iterator(dir)) left.push_back(e.path().filename());
  umount(dir.c_str());
  fs::remove_all(dir);
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(contains(r.out, "backup failed")) << r.out;
  EXPECT_TRUE(left.empty()) << left.size() << " files left, first " << left[0];
  EXPECT_EQ(q("SELECT to_regclass('a') IS NULL"), "t");
}

TEST_F(SafeRun, RollbackCommandByVersionAndByBackup) {
  project.migration("0001_a", "CREATE TABLE a (id int);", "DROP TABLE a;");
  project.migration("0002_b", "CREATE TABLE b (id int);", "DROP TABLE b;");
  playbook("  - backup\n  - migrate\n");
  ASSERT_EQ(project.ferry({"run", "promote"}).code, 0);
  pg().exec("app", "INSERT INTO a VALUES (1), (2)");
  ASSERT_EQ(project.ferry({"backup", "dev"}).code, 0);
  auto r = project.ferry({"rollback", "dev", "--to", "0001"});
  ASSERT_EQ(r.code, 0) << r.all();
  EXPECT_TRUE(contains(r.out, "reverted 1 by down SQL, now at 0001")) << r.out;
  EXPECT_TRUE(contains(r.out, "backend healthy") || contains(r.out, "healthy (")) << r.out;
  EXPECT_EQ(q("SELECT to_regclass('b') IS NULL AND to_regclass('a') IS NOT NULL"), "t");
  pg().exec("app", "DELETE FROM tasks");  // the on-call engineer's bad day
  r = project.ferry({"rollback", "dev", "--backup", "latest"});
  ASSERT_EQ(r.code, 0) << r.all();
  EXPECT_TRUE(contains(r.out, "and row counts equal to backup dev-")) << r.out;
  EXPECT_EQ(q("SELECT count(*) FROM tasks"), "500");
  EXPECT_EQ(q("SELECT count(*) FROM a"), "2");
  EXPECT_EQ(q("SELECT string_agg(version, ',' ORDER BY version) FROM ferry.migrations"), "0001,0002");
  auto hist = json::parse(project.ferry({"history", "dev", "--json"}).out);
  EXPECT_EQ(hist["runs"][0]["playbook"], "rollback");
  EXPECT_EQ(hist["runs"][0]["outcome"], "succeeded");
}

TEST_F(SafeRun, BackupRetentionKeepsTheNewest) {
  project.env("dev", pg(), "app", "backup:\n  dir: " + backups + "/dev\n  keep: 2\n");
  for (int i = 0; i < 4; ++i) ASSERT_EQ(project.ferry({"backup", "dev"}).code, 0);
  auto list = json::parse(project.ferry({"backups", "dev", "--json"}).out);
  EXPECT_EQ(list.size(), 2u);
  size_t files = 0;
  for (const auto& e : fs::directory_iterator(backups + "/dev")) files += e.is_regular_file();
  EXPECT_EQ(files, 4u);  // two dumps, two sidecars
}

TEST_F(SafeRun, DirectoryFormatWithJobs) {
  project.env("dev", pg(), "app", "backup:\n  dir: " + backups + "/dev\n  format: directory\n  jobs: 2\n");
  auto r = project.ferry({"backup", "dev"});
  ASSERT_EQ(r.code, 0) << r.all();
  pg().exec("app", "DROP TABLE tasks");
  r = project.ferry({"rollback", "dev", "--backup", "latest"});
  ASSERT_EQ(r.code, 0) << r.all();
  EXPECT_EQ(q("SELECT count(*) FROM tasks"), "500");
}

}  // namespace

namespace {

class PagilaRollback : public ::testing::Test {
 protected:
  static PgCluster& pg() {
    static PgCluster cluster;
    return cluster;
  }
};

TEST_F(PagilaRollback, EachModeFailureOnPagilaIsRevertedWithCountsAndFingerprintEqual) {
  pg().load_pagila("pagila");
  Project project;
  project.env("dev", pg(), "pagila");
  project.migration("0001_tier", "ALTER TABLE customer ADD COLUMN tier text NOT NULL DEFAULT 'standard';",
                    "ALTER TABLE customer DROP COLUMN tier;");
  project.migration("0002_film_idx", "CREATE INDEX film_rating_idx ON film (rating);", "DROP INDEX film_rating_idx;");
  project.migration("0003_view",
                    "CREATE VIEW premium_customers AS SELECT customer_id FROM customer WHERE tier = 'premium';",
                    "DROP VIEW premium_customers;");
  project.migration("0004_broken", "ALTER TABLE rental ADD CONSTRAINT rental_sane CHECK (inventory_id < 0);",
                    "ALTER TABLE rental DROP CONSTRAINT rental_sane;");
  project.write("playbooks/p.yaml",
                "stages: [dev]\nsteps:\n  - migrate: {transaction: each}\n  - verify: {row_counts: all}\n");
  auto fp = [&] { return json::parse(project.ferry({"status", "--json"}).out)[0]["fingerprint"].get<std::string>(); };
  std::string before = fp();
  std::string counts = pg().value("pagila", "SELECT sum(n_live_tup) FROM pg_stat_user_tables");
  auto r = project.ferry({"run", "p"});
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(contains(r.out, "0004_broken: migrations/0004_broken/up.sql:1:1: check constraint \"rental_sane\""))
      << r.out;
  EXPECT_TRUE(contains(r.out, "reverted 3 by down SQL")) << r.out;
  EXPECT_TRUE(contains(r.out, "row counts as before")) << r.out;
  EXPECT_EQ(fp(), before);
  EXPECT_EQ(pg().value("pagila", "SELECT count(*) FROM rental"), "16044");
  EXPECT_EQ(pg().value("pagila", "SELECT count(*) FROM customer"), "599");
}

TEST(Protected, TheNameTypedAtATerminalConfirms) {
  if (system("command -v script >/dev/null") != 0) GTEST_SKIP() << "needs script(1)";
  PgCluster pg;
  pg.create_db("app");
  Project project;
  project.env("production", pg, "app", "protected: true\n");
  project.migration("0001_a", "CREATE TABLE a (id int);", "DROP TABLE a;");
  project.write("playbooks/p.yaml", "stages: [production]\nsteps: [migrate]\n");
  auto run_at_tty = [&](const std::string& typed) {
    ferry::transport::LocalTransport t;
    ferry::transport::Command c = ferry::transport::Command::shell(
        "script -qec " + ferry::shell_quote(ferry_binary() + " -C " + project.root() + " run p") + " /dev/null");
    c.stdin_data = typed + "\n";
    return t.run(c);
  };
  auto wrong = run_at_tty("prod");
  EXPECT_EQ(wrong.exit_code, 3) << wrong.out;
  EXPECT_TRUE(contains(wrong.out, "Type its name to continue")) << wrong.out;
  EXPECT_TRUE(contains(wrong.out, "the name typed did not match")) << wrong.out;
  EXPECT_EQ(pg.value("app", "SELECT to_regclass('a') IS NULL"), "t");
  auto right = run_at_tty("production");
  EXPECT_EQ(right.exit_code, 0) << right.out;
  EXPECT_TRUE(contains(right.out, "\033[")) << "colour at a terminal";
  EXPECT_EQ(pg.value("app", "SELECT to_regclass('a') IS NOT NULL"), "t");
}

}  // namespace
