// Which pg_dump a backup runs (steps/backup_tools.*): where /usr/bin/pg_dump is Debian's
// pg_wrapper (a perl script that picks a versioned binary), ferry runs that binary itself; a
// user's own pg_dump first on PATH is kept. Real PostgreSQL, the real ferry binary.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "support/fixtures.hpp"

#include <nlohmann/json.hpp>

#include "support/packaging.hpp"

namespace fs = std::filesystem;
using namespace ferry::test;
namespace pk = ferry::test::packaging;

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

// The pipeline inside ferry (steps/backup_here.*): its file is what the zstd program reads, its
// sidecar's sha256 and size are the file's, it is private (0600), and pg_restore lists the
// dump's tables from it.
TEST_F(BackupClientTools, ABackupKeptHereIsAZstdFileItsSidecarDescribes) {
  auto r = project.ferry({"backup", "dev"});
  ASSERT_EQ(r.code, 0) << r.all();
  auto l = project.ferry({"backups", "dev", "--json"});
  ASSERT_EQ(l.code, 0) << l.all();
  auto b = nlohmann::json::parse(l.out)[0];
  std::string file = b["file"];
  ASSERT_TRUE(file.ends_with(".dump.zst")) << l.out;
  EXPECT_EQ(b["compression"], "zstd");
  EXPECT_EQ(pk::run({"zstd", "-q", "-t", file}).code, 0);
  EXPECT_EQ(b["sha256"], pk::run({"sha256sum", file}).out.substr(0, 64));
  EXPECT_EQ(b["size"], fs::file_size(file));
  EXPECT_EQ(fs::status(file).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
  auto listed = pk::run({"bash", "-c", "zstd -q -d -c -- \"$1\" | pg_restore -l", "-", file});
  EXPECT_EQ(listed.code, 0) << listed.all();
  EXPECT_TRUE(contains(listed.out, "TABLE DATA public tasks")) << listed.out;
}

// The read-back is the verification: when pg_restore cannot read the dump, no backup is made,
// the message says what pg_restore said, and no file is left.
TEST_F(BackupClientTools, ABackupWhoseReadBackFailsLeavesNothingAndSaysWhy) {
  fs::create_directories(dir + "/bin");
  std::ofstream(dir + "/bin/pg_restore") << "#!/bin/sh\nhead -c 1000 >/dev/null\necho 'pg_restore: error: simulated "
                                            "read failure' >&2\nexit 1\n";
  fs::permissions(dir + "/bin/pg_restore", fs::perms::owner_all);
  std::string path = dir + "/bin:" + std::getenv("PATH");
  auto r = project.ferry({"backup", "dev"}, {{"PATH", path}});
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(contains(r.all(), "verification failed: pg_restore could not read the dump back: pg_restore: error: "
                                "simulated read failure"))
      << r.all();
  EXPECT_TRUE(!fs::exists(dir + "/backups") || fs::is_empty(dir + "/backups"));
}

}  // namespace
