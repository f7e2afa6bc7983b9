// Day one with ferry: a new project (init), commands run from any subdirectory, an existing
// database adopted (baseline), changed checksums and dead runs repaired, database.url.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "core/text.hpp"
#include "support/cli_run.hpp"
#include "support/fixtures.hpp"

namespace fs = std::filesystem;
using namespace ferry::test;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(DayOne, InitScaffoldsAProjectThatValidatesAndRefusesToOverwrite) {
  std::string dir = temp_dir("ferry-init") + "/shop";
  auto r = ferry_in("/tmp", {"init", dir});
  ASSERT_EQ(r.code, 0) << r.all();
  for (const char* f : {"environments/dev.yaml", "playbooks/promote.yaml", "migrations", ".gitignore",
                        ".schemas/environment.json", ".schemas/playbook.json"})
    EXPECT_TRUE(fs::exists(fs::path(dir) / f)) << f;
  auto v = ferry_in(dir, {"validate"});
  EXPECT_EQ(v.code, 0) << v.all();
  EXPECT_TRUE(contains(v.out, "1 environment(s), 1 playbook(s), 0 migration(s) valid")) << v.out;
  EXPECT_EQ(slurp(dir + "/.schemas/playbook.json"), ferry_in("/tmp", {"schema", "playbook"}).out);
  EXPECT_EQ(
      slurp(dir + "/environments/dev.yaml").rfind("# yaml-language-server: $schema=../.schemas/environment.json\n", 0),
      0u);
  std::string ignore = slurp(dir + "/.gitignore");
  EXPECT_TRUE(contains(ignore, ".ferry/\n")) << ignore;

  // A second init changes nothing and names the file.
  std::string before = ignore;
  auto again = ferry_in(dir, {"init"});
  EXPECT_EQ(again.code, 64) << again.all();
  EXPECT_TRUE(contains(again.err, "environments/dev.yaml' exists already")) << again.err;
  EXPECT_EQ(slurp(dir + "/.gitignore"), before);
  fs::remove_all(fs::path(dir).parent_path());
}

TEST(DayOne, NewRunInsideMigrationsCreatesTheMigrationAtTheProjectRoot) {
  std::string dir = temp_dir("ferry-init");
  ASSERT_EQ(ferry_in(dir, {"init"}).code, 0);
  fs::create_directories(fs::path(dir) / "migrations" / "deep");
  auto r = ferry_in(dir + "/migrations/deep", {"new", "create_users"});
  ASSERT_EQ(r.code, 0) << r.all();
  EXPECT_TRUE(fs::exists(fs::path(dir) / "migrations/0001_create_users/up.sql")) << r.out;
  EXPECT_FALSE(fs::exists(fs::path(dir) / "migrations/migrations"));
  EXPECT_FALSE(fs::exists(fs::path(dir) / "migrations/deep/migrations"));
  auto v = ferry_in(dir + "/playbooks", {"validate"});
  EXPECT_EQ(v.code, 0) << v.all();
  EXPECT_TRUE(contains(v.out, "1 migration(s) valid")) << v.out;
  fs::remove_all(dir);
}

const char* const k_password = "s3cret-pw-$(touch /tmp/pwned)'\"";

class DayOneDb : public ::testing::Test {
 protected:
  static PgCluster& pg() {
    // Every password cluster of a test process shares one cached template: Cli's password.
    static PgCluster cluster(k_password);
    return cluster;
  }
  void SetUp() override { pg().create_db("app"); }
  Project project;
};

// pg_dump and psql behind wrappers that write down their argv, then exec the real ones.
std::string argv_recording_path(const std::string& dir) {
  for (const char* tool : {"pg_dump", "psql", "pg_restore"}) {
    std::string found;
    for (const char* d :
         {"/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin", "/usr/bin"})
      if (fs::exists(std::string(d) + "/" + tool)) {
        found = std::string(d) + "/" + tool;
        break;
      }
    std::ofstream(dir + "/" + tool) << "#!/bin/sh\nprintf '%s\\n' \"$*\" >> " << dir << "/argv.log\nexec " << found
                                    << " \"$@\"\n";
    fs::permissions(dir + "/" + tool, fs::perms::owner_all);
  }
  return dir + ":" + std::getenv("PATH");
}

TEST_F(DayOneDb, DatabaseUrlWorksAndItsPasswordIsASecretNeverInArgv) {
  // The password needs percent-encoding in a URI: '$' '(' ' ' '/' ')' '\'' '"'.
  std::string url =
      "postgresql://postgres:s3cret-pw-%24%28touch%20%2Ftmp%2Fpwned%29%27%22@127.0.0.1:" + std::to_string(pg().port()) +
      "/app?sslmode=disable";
  project.write("environments/dev.yaml", "database:\n  url: ${DATABASE_URL}\nbackup:\n  dir: backups\n");
  project.write("playbooks/promote.yaml", "stages: [dev]\nsteps:\n  - backup\n  - migrate\n");
  project.migration("0001_create", "CREATE TABLE t (id int);", "DROP TABLE t;");
  std::string bin = temp_dir("ferry-argv");
  std::map<std::string, std::string> env = {{"DATABASE_URL", url}, {"PATH", argv_recording_path(bin)}};
  auto run = project.ferry({"run", "promote"}, env);
  ASSERT_EQ(run.code, 0) << run.all();
  EXPECT_EQ(pg().value("app", "SELECT count(*) FROM ferry.migrations"), "1");
  auto status = project.ferry({"status", "--json"}, env);
  EXPECT_EQ(status.code, 0) << status.all();
  std::ifstream log(bin + "/argv.log");
  std::string argv((std::istreambuf_iterator<char>(log)), {});
  EXPECT_FALSE(argv.empty()) << "pg_dump was not run through the wrapper";
  for (const auto& text : {run.all(), status.all(), argv}) EXPECT_FALSE(contains(text, "s3cret-pw")) << text;

  // Both url and a separate field: a configuration error at the field's place.
  project.write("environments/dev.yaml", "database:\n  url: ${DATABASE_URL}\n  host: db.example.com\n");
  auto both = project.ferry({"validate"}, env);
  EXPECT_EQ(both.code, 64);
  EXPECT_TRUE(contains(both.err, "environments/dev.yaml:3:9: give either 'url' or 'host'")) << both.err;
  // A URL that cannot be read is named without quoting it (it may hold a password).
  auto bad = project.ferry({"validate"}, {{"DATABASE_URL", "mysql://root:s3cret-pw@h/app"}});
  EXPECT_EQ(bad.code, 64);
  EXPECT_FALSE(contains(bad.all(), "s3cret-pw")) << bad.all();
  fs::remove_all(bin);
}

class DayOneLedger : public DayOneDb {
 protected:
  void SetUp() override {
    DayOneDb::SetUp();
    project.write("pw.txt", k_password);
    project.env("dev", pg(), "app", "  password_file: pw.txt\n");
    project.write("playbooks/promote.yaml", "stages: [dev]\nsteps:\n  - migrate\n");
    project.migration("0001_create", "CREATE TABLE t (id int);\n", "DROP TABLE t;");
    project.migration("0002_add", "ALTER TABLE t ADD COLUMN c int;\n", "ALTER TABLE t DROP COLUMN c;");
    project.migration("0003_more", "CREATE TABLE u (id int);\n", "DROP TABLE u;");
    // The database as it was before ferry: 0001 and 0002 applied by hand.
    pg().exec("app", "CREATE TABLE t (id int); ALTER TABLE t ADD COLUMN c int;");
  }
  std::string q(const std::string& sql) { return pg().value("app", sql); }
};

TEST_F(DayOneLedger, BaselineRecordsVersionsUpToVWithoutRunningThemAndTheRunAppliesTheRest) {
  auto unknown = project.ferry({"baseline", "dev", "--to", "0009"});
  EXPECT_EQ(unknown.code, 64) << unknown.all();

  auto r = project.ferry({"baseline", "dev", "--to", "0002"});
  ASSERT_EQ(r.code, 0) << r.all();
  EXPECT_TRUE(contains(r.out, "2 migration(s) recorded as applied without running them (0001_create, 0002_add)"))
      << r.out;
  EXPECT_EQ(q("SELECT string_agg(version || ':' || checksum, ',' ORDER BY version) FROM ferry.migrations"),
            "0001:" + ferry::sha256_hex("CREATE TABLE t (id int);\n") +
                ",0002:" + ferry::sha256_hex("ALTER TABLE t ADD COLUMN c int;\n"));
  EXPECT_EQ(q("SELECT count(*) FROM ferry.history WHERE action = 'baselined' AND note LIKE 'baseline --to 0002%'"),
            "2");
  EXPECT_EQ(
      q("SELECT outcome || ' ' || version_after FROM ferry.runs WHERE playbook = 'baseline' AND note IS NOT NULL"),
      "succeeded 0002");
  EXPECT_EQ(project.ferry({"status", "--check"}).code, 2);  // 0003 pending

  auto run = project.ferry({"run", "promote"});
  ASSERT_EQ(run.code, 0) << run.all();  // would fail had it run 0001 again (t exists)
  EXPECT_EQ(q("SELECT string_agg(version, ',' ORDER BY version) FROM ferry.migrations"), "0001,0002,0003");
  EXPECT_EQ(q("SELECT to_regclass('public.u') IS NOT NULL"), "t");

  // Applied already, and differently: refused, nothing recorded.
  project.write("migrations/0001_create/up.sql", "CREATE TABLE t (id bigint);\n");
  auto differently = project.ferry({"baseline", "dev", "--to", "0003"});
  EXPECT_EQ(differently.code, 3) << differently.all();
  EXPECT_TRUE(contains(differently.err, "0001_create is applied already with checksum")) << differently.err;
  EXPECT_EQ(q("SELECT count(*) FROM ferry.runs WHERE playbook = 'baseline'"), "1");
}

TEST_F(DayOneLedger, BaselineAndRepairAreRefusedWhileTheDatabaseIsLocked) {
  auto holder = pg().connect("app");
  holder->exec("SELECT pg_advisory_lock(1717924466, 1)");
  auto b = project.ferry({"baseline", "dev", "--to", "0002"});
  EXPECT_EQ(b.code, 3) << b.all();
  EXPECT_TRUE(contains(b.err, "is locked by")) << b.err;
  auto r = project.ferry({"repair", "dev", "--reason", "x"});
  EXPECT_EQ(r.code, 3) << r.all();
  EXPECT_EQ(q("SELECT to_regclass('ferry.migrations') IS NULL"), "t");  // nothing written
}

TEST_F(DayOneLedger, RepairAcceptsAChangedChecksumWithItsReasonAndAbandonsOnlyDeadRuns) {
  ASSERT_EQ(project.ferry({"baseline", "dev", "--to", "0002"}).code, 0);
  project.write("migrations/0001_create/up.sql", "-- reformatted\nCREATE TABLE t (id int);\n");
  EXPECT_EQ(project.ferry({"status", "--check"}).code, 3);  // drift
  // A run whose process died (its session is gone), and one whose session is alive.
  pg().exec("app",
            "INSERT INTO ferry.runs (id, playbook, environment, operator, host, outcome, backend_pid) VALUES "
            "('dead-run', 'promote', 'dev', 'ann', 'elsewhere', 'running', 999999)");
  auto alive = pg().connect("app");
  alive->exec(
      "INSERT INTO ferry.runs (id, playbook, environment, operator, host, outcome, backend_pid) VALUES "
      "('live-run', 'promote', 'dev', 'bob', 'here', 'running', pg_backend_pid())");

  auto r = project.ferry({"repair", "dev", "--reason", "reformatted 0001, same statement"});
  ASSERT_EQ(r.code, 0) << r.all();
  EXPECT_TRUE(contains(r.out, "0001_create: checksum")) << r.out;
  EXPECT_TRUE(contains(r.out, "run live-run (bob on here")) << r.out;
  EXPECT_TRUE(contains(r.out, "kept, its database session")) << r.out;
  std::string now = ferry::sha256_hex("-- reformatted\nCREATE TABLE t (id int);\n");
  EXPECT_EQ(q("SELECT checksum FROM ferry.migrations WHERE version = '0001'"), now);
  EXPECT_EQ(q("SELECT count(*) FROM ferry.history WHERE action = 'repaired' AND note LIKE '%" + now +
              "%reformatted 0001, same statement'"),
            "1");
  EXPECT_EQ(q("SELECT outcome FROM ferry.runs WHERE id = 'dead-run'"), "abandoned");
  EXPECT_EQ(q("SELECT outcome FROM ferry.runs WHERE id = 'live-run'"), "running");
  EXPECT_EQ(project.ferry({"status", "--check"}).code, 2);  // no drift now; 0003 pending
}

TEST(DayOneAlembic, BaselineStampsTheRevisionThroughTheMigrationsConnectionAndRecordsIt) {
  PgCluster pg;
  pg.create_db("app");
  Project project;
  fs::copy(source_dir() + "/examples/alembic", project.path("app"), fs::copy_options::recursive);
  project.env("dev", pg, "app");
  std::string url = "postgresql://postgres@127.0.0.1:" + std::to_string(pg.port()) + "/app";
  project.write("playbooks/promote.yaml", "migrations: {driver: alembic, command: 'env DATABASE_URL=" + url +
                                              " alembic -c " + project.path("app/alembic.ini") +
                                              "'}\nstages: [dev]\nsteps:\n  - migrate\n");
  auto unknown = project.ferry({"baseline", "dev", "--to", "zz9"});
  EXPECT_EQ(unknown.code, 64) << unknown.all();

  auto r = project.ferry({"baseline", "dev", "--to", "b2"});
  ASSERT_EQ(r.code, 0) << r.all();
  EXPECT_EQ(pg.value("app", "SELECT version_num FROM alembic_version"), "b2");
  EXPECT_EQ(
      pg.value("app", "SELECT string_agg(version, ',' ORDER BY id) FROM ferry.history WHERE action = 'baselined'"),
      "a1,b2");
  EXPECT_EQ(pg.value("app", "SELECT outcome || ' ' || version_after FROM ferry.runs WHERE playbook = 'baseline'"),
            "succeeded b2");
  EXPECT_EQ(pg.value("app", "SELECT to_regclass('public.tasks') IS NULL"), "t");  // nothing was run

  auto again = project.ferry({"baseline", "dev", "--to", "c3"});
  EXPECT_EQ(again.code, 3) << again.all();
  EXPECT_EQ(pg.value("app", "SELECT version_num FROM alembic_version"), "b2");
}

}  // namespace
