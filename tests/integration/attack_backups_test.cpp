// The fixed backup promises attacked: environments sharing a backup.dir under prefix names, odd
// directory and environment names, a missing backup.dir, a backup killed half-way with keep: 1,
// short server timeouts, the directory format. Real PostgreSQL, the real ferry binary, real files.
#include "integration/attack_fixture.hpp"

using namespace ferry::test;

// or prune each other's backups.
TEST_F(Attack, PrefixNamedEnvironmentsSharingADirectoryStayApart) {
  pg().create_db("app_eu");
  pg().exec("app_eu", "CREATE TABLE eu_only (id int); INSERT INTO eu_only VALUES (1)");
  project.env("prod", pg(), "app", "backup:\n  dir: " + dir + "\n  keep: 1\n");
  project.env("prod-eu", pg(), "app_eu", "backup:\n  dir: " + dir + "\n  keep: 1\n");
  backup("prod-eu");
  // prod-eu's backup in progress: prod's retention must not take it for one of its leftovers.
  std::string running = dir + "/.prod-eu-20260101T000000Z-abcd.dump.zst.partial";
  { std::ofstream(running) << "being written"; }
  backup("prod");
  backup("prod");
  EXPECT_TRUE(fs::exists(running));
  auto eu = list("prod-eu");
  ASSERT_EQ(eu.size(), 1u);
  EXPECT_TRUE(fs::exists(eu[0]["file"].get<std::string>()));
  ASSERT_EQ(list("prod").size(), 1u);
  auto r = project.ferry({"rollback", "prod", "--backup", eu[0]["id"].get<std::string>()});
  EXPECT_NE(r.code, 0) << r.all();
  EXPECT_EQ(q("SELECT to_regclass('eu_only') IS NULL"), "t");
  r = project.ferry({"rollback", "prod", "--backup", "latest"});
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_EQ(q("SELECT to_regclass('eu_only') IS NULL"), "t");
  EXPECT_EQ(q("SELECT count(*) FROM tasks"), "500");
}

// A backup.dir with spaces, quotes, a dollar and non-ASCII letters works end to end.
TEST_F(Attack, ABackupDirectoryWithSpacesQuotesAndUnicodeWorks) {
  std::string odd = backups + "/it's a \"dir\" $HOME `x` ünï";
  project.env(
      "dev", pg(), "app", "backup:\n  dir: '" + [&] {
        std::string s = odd;
        for (size_t p = s.find('\''); p != std::string::npos; p = s.find('\'', p + 2)) s.insert(p, "'");
        return s;
      }() + "'\n  keep: 1\n");
  backup();
  backup();
  auto l = list();
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0]["file"].get<std::string>().rfind(odd + "/", 0), 0u) << l[0]["file"];
  pg().exec("app", "DELETE FROM tasks");
  auto r = project.ferry({"rollback", "dev", "--backup", "latest"});
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_EQ(q("SELECT count(*) FROM tasks"), "500");
  int files = 0;
  for (const auto& e : fs::directory_iterator(odd)) files += e.is_regular_file() || e.is_directory();
  EXPECT_EQ(files, 2);  // one dump and its sidecar
}

// message names the directory and what is wrong with it, not just "no verified backup".
TEST_F(Attack, ABackupDirectoryThatIsMissingOrNotADirectoryIsNamed) {
  auto r = project.ferry({"rollback", "dev", "--backup", "latest"});
  EXPECT_NE(r.code, 0) << r.all();
  EXPECT_NE(r.code, 2) << r.all();
  EXPECT_TRUE(contains(r.all(), dir + " does not exist")) << r.all();
  { std::ofstream(dir) << "not a directory"; }
  r = project.ferry({"rollback", "dev", "--backup", "latest"});
  EXPECT_NE(r.code, 0) << r.all();
  EXPECT_NE(r.code, 2) << r.all();
  EXPECT_TRUE(contains(r.all(), dir + " is not a directory")) << r.all();
  EXPECT_EQ(q("SELECT count(*) FROM tasks"), "500");
}

// the next backup leaves one backup in backup.dir, not the dead one's partial files besides it.
TEST_F(Attack, KeepOneAfterABackupKilledHalfWayLeavesOneBackup) {
  project.env("dev", pg(), "app", "backup:\n  dir: " + dir + "\n  keep: 1\n");
  pg().exec("app", "CREATE TABLE big AS SELECT g AS id, md5(g::text) AS h FROM generate_series(1, 1500000) g");
  backup();
  Background bg({ferry_binary(), "-C", project.root(), "backup", "dev"}, {{"NO_COLOR", "1"}});
  bool partial = wait_until([&] {  // the .partial may be renamed between listing and stat: no throw
    bool seen = false;
    std::error_code ec;
    if (fs::exists(dir))
      for (const auto& e : fs::directory_iterator(dir))
        seen |= e.path().filename().string().ends_with(".partial") && fs::file_size(e.path(), ec) > 0 && !ec;
    return seen;
  });
  ASSERT_TRUE(partial) << "the backup never started writing";
  std::vector<pid_t> tree;
  for (const char* name : {"bash", "pg_dump", "zstd", "tee", "sha256sum", "pg_restore"})
    for (pid_t p : descendants_named(bg.pid(), name)) tree.push_back(p);
  kill(bg.pid(), SIGKILL);
  for (pid_t p : tree) kill(p, SIGKILL);
  bg.wait();
  // The dead run's session keeps the lock until its server process notices (after its query).
  Proc r;
  for (int i = 0; i < 100 && (r = project.ferry({"backup", "dev"})).code == 3; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_EQ(r.code, 0) << r.all();
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  ASSERT_EQ(list().size(), 1u);
  std::string id = list()[0]["id"];
  EXPECT_EQ(names, (std::vector<std::string>{id + ".dump.zst", id + ".json"}));
}

// snapshot transaction held open while pg_dump runs, are cut by neither.
TEST_F(Attack, ABackupIsNotCutByTheDatabasesStatementTimeout) {
  pg().exec("app", "CREATE TABLE big AS SELECT g AS id, md5(g::text) AS h FROM generate_series(1, 1500000) g");
  pg().exec("app",
            "ALTER DATABASE app SET statement_timeout = '20ms'; ALTER DATABASE app SET "
            "idle_in_transaction_session_timeout = '300ms'");
  auto r = project.ferry({"backup", "dev"});
  EXPECT_EQ(r.code, 0) << r.all();
  pg().exec("app",
            "ALTER DATABASE app RESET statement_timeout; ALTER DATABASE app RESET idle_in_transaction_session_timeout");
  EXPECT_EQ(list()[0]["row_counts"]["public.big"], 1500000) << list()[0]["row_counts"];
}

// An environment name with non-ASCII letters and a dot: its backup IDs, retention and restore work.
TEST_F(Attack, AnEnvironmentNameWithUnicodeAndADotWorks) {
  project.env("prød.eu", pg(), "app", "backup:\n  dir: " + dir + "\n  keep: 1\n");
  backup("prød.eu");
  backup("prød.eu");
  auto l = list("prød.eu");
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0]["id"].get<std::string>().rfind("prød.eu-", 0), 0u) << l[0]["id"];
  pg().exec("app", "DELETE FROM tasks");
  auto r = project.ferry({"rollback", "prød.eu", "--backup", "latest"});
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_EQ(q("SELECT count(*) FROM tasks"), "500");
  r = project.ferry({"rollback", "prød.eu", "--backup", l[0]["id"].get<std::string>()});
  EXPECT_EQ(r.code, 0) << r.all();
}

// directories, and a directory whose data file was damaged is refused before anything changes.
TEST_F(Attack, DirectoryFormatBackupsRestorePruneAndRefuseDamage) {
  project.env("dev", pg(), "app", "backup:\n  dir: " + dir + "\n  format: directory\n  jobs: 2\n  keep: 1\n");
  pg().exec("app", "CREATE PUBLICATION cdc FOR TABLE tasks; SELECT lo_from_bytea(0, 'blob')");
  backup();
  backup();
  auto l = list();
  ASSERT_EQ(l.size(), 1u);
  std::string file = l[0]["file"];
  EXPECT_TRUE(fs::is_directory(file)) << file;
  auto entries = std::distance(fs::directory_iterator(dir), fs::directory_iterator());
  EXPECT_EQ(entries, 2);  // one directory and its sidecar
  pg().exec("app", "DELETE FROM tasks WHERE id > 10; CREATE TABLE made_after (id int)");
  auto r = project.ferry({"rollback", "dev", "--backup", "latest"});
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_EQ(q("SELECT count(*) FROM tasks"), "500");
  EXPECT_EQ(q("SELECT to_regclass('made_after') IS NULL"), "t");
  EXPECT_EQ(q("SELECT count(*) FROM pg_largeobject_metadata"), "1");
  // A damaged data file: refused by its sha256, nothing changes.
  pg().exec("app", "DELETE FROM tasks WHERE id > 10");
  fs::path biggest;  // the tasks table's data, cut in half
  for (const auto& e : fs::directory_iterator(file))
    if (e.path().filename() != "toc.dat" && (biggest.empty() || e.file_size() > fs::file_size(biggest)))
      biggest = e.path();
  fs::resize_file(biggest, fs::file_size(biggest) / 2);
  r = project.ferry({"rollback", "dev", "--backup", "latest"});
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_EQ(q("SELECT count(*) FROM tasks"), "10");
  // The same damage with the sidecar's sha256 edited to match: pg_restore fails half-way, and the
  // restore transaction never commits.
  std::string side = dir + "/" + l[0]["id"].get<std::string>() + ".json";
  auto j = json::parse(ferry::read_file(side));
  ferry::transport::LocalTransport t;
  auto sum = t.run(
      ferry::transport::Command::shell("cd '" + file + "' && find . -type f | LC_ALL=C sort | xargs cat | sha256sum"));
  j["sha256"] = sum.out.substr(0, 64);
  std::ofstream(side, std::ios::trunc) << j.dump(2);
  r = project.ferry({"rollback", "dev", "--backup", "latest"});
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(contains(r.out, "the database is as it was before the restore")) << r.out;
  EXPECT_EQ(q("SELECT count(*) FROM tasks"), "10");
}
