// Which pg_dump a backup runs (steps/backup_tools.*): where /usr/bin/pg_dump is Debian's
// pg_wrapper (a perl script that picks a versioned binary), ferry runs that binary itself; a
// user's own pg_dump first on PATH is kept. Real PostgreSQL, the real ferry binary.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "support/fixtures.hpp"

namespace fs = std::filesystem;
using namespace ferry::test;

namespace {

bool pg_dump_is_pg_wrapper() {
  std::error_code ec;
  return fs::canonical("/usr/bin/pg_dump", ec).filename() == "pg_wrapper";
}

class BackupClientTools : public ::testing::Test {
 protected:
  static PgCluster& pg() {
    static PgCluster cluster;
    return cluster;
  }
  void SetUp() override {
    pg().create_db("app");
    pg().exec("app", "CREATE TABLE tasks (id int PRIMARY KEY); INSERT INTO tasks SELECT generate_series(1, 20);");
    dir = temp_dir("ferry-clienttools");
    project.env("dev", pg(), "app", "backup:\n  dir: " + dir + "/backups\n");
  }
  void TearDown() override { fs::remove_all(dir); }
  Project project;
  std::string dir;
};

TEST_F(BackupClientTools, ABackupRunsTheVersionedPgDumpThatPgWrapperWouldPick) {
  if (!pg_dump_is_pg_wrapper()) GTEST_SKIP() << "/usr/bin/pg_dump is not Debian's pg_wrapper here";
  auto r = project.ferry({"-v", "backup", "dev"});
  ASSERT_EQ(r.code, 0) << r.all();
  EXPECT_TRUE(contains(r.all(), "pg_dump: /usr/lib/postgresql/")) << r.all();
  EXPECT_TRUE(contains(r.all(), "pg_restore: /usr/lib/postgresql/")) << r.all();
  auto l = project.ferry({"backups", "dev"});
  EXPECT_EQ(l.code, 0) << l.all();
  EXPECT_TRUE(contains(l.out, "verified")) << l.all();
}

TEST_F(BackupClientTools, AUsersOwnPgDumpFirstOnPathIsRunNotReplaced) {
  std::string real;
  for (const auto& e : fs::directory_iterator("/usr/lib/postgresql"))
    if (fs::exists(e.path() / "bin/pg_dump")) real = (e.path() / "bin/pg_dump").string();
  if (real.empty()) GTEST_SKIP() << "no /usr/lib/postgresql/N/bin/pg_dump";
  fs::create_directories(dir + "/bin");
  std::ofstream(dir + "/bin/pg_dump") << "#!/bin/sh\necho used > \"$MARK\"\nexec " << real << " \"$@\"\n";
  fs::permissions(dir + "/bin/pg_dump", fs::perms::owner_all);
  std::string path = dir + "/bin:" + std::getenv("PATH");
  auto r = project.ferry({"backup", "dev"}, {{"PATH", path}, {"MARK", dir + "/mark"}});
  ASSERT_EQ(r.code, 0) << r.all();
  EXPECT_TRUE(fs::exists(dir + "/mark")) << "the pg_dump first on PATH was not run";
}

}  // namespace
