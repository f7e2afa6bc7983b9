// The swap restore's phases (decompression, pg_restore -j, proof, swap) timed in the diagnostics
// log, and attacked where the speed work touched it: the decompression of the backup file cut
// by a damaged file, by a full disk, and by a SIGKILL of ferry. Each time the original database
// is untouched (same oid, same rows, connections allowed), no restored copy or temporary file is
// left, and ferry says why. Real PostgreSQL, the real ferry binary, real files (a real tmpfs).
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <nlohmann/json.hpp>

#include "core/text.hpp"
#include "support/fixtures.hpp"
#include "swap_restore_fixture.hpp"

namespace fs = std::filesystem;
using namespace ferry::test;
using nlohmann::json;

namespace {

class RestoreSpeed : public SwapRestoreTest<RestoreSpeed> {
 protected:
  RestoreSpeed() : SwapRestoreTest("ferry-restore-speed") {}
  void TearDown() override {
    if (mounted) system(("umount -l " + ferry::shell_quote(backups)).c_str());
    SwapRestoreTest::TearDown();
  }
  std::string backup_before_0002() { return newest_backup(); }
  // A process named `comm` among the descendants of `root` (0: none).
  static pid_t descendant_named(pid_t root, const std::string& comm) {
    return descendant(root, [&](pid_t pid) { return comm_of(pid) == comm; });
  }

  bool mounted = false;
};

TEST_F(RestoreSpeed, TheLogGivesEachPhaseOfASwapRestoreItsTime) {
  two_releases(20000);
  std::string log = temp_dir("ferry-restore-speed-log") + "/ferry.log";
  auto r = project.ferry({"-vv", "--log-file", log, "rollback", "staging", "--backup", "before:0002"});
  std::string text;
  {
    std::ifstream in(log);
    text.assign(std::istreambuf_iterator<char>(in), {});
  }
  fs::remove_all(fs::path(log).parent_path());
  EXPECT_EQ(r.code, 0) << r.all();
  for (const char* phase :
       {"swap restore: maintenance session, CREATE DATABASE ", "swap restore: decompress and sha256 check ",
        "swap restore: pg_restore -j", "swap restore: settings and fingerprint ", "swap restore: exact row counts ",
        "swap restore: swap window ", "swap restore: reconnect, lock, background drop started "})
    EXPECT_TRUE(contains(text, phase)) << phase << "\n" << text;
  EXPECT_EQ(q("SELECT count(*) FROM tasks"), "20000");
  EXPECT_EQ(temp_files(), "");
}

// The copy's row counts, taken while pg_restore runs, are exact and compared with the sidecar:
// tables of one name in two schemas (counted after pg_restore) and an odd name included; a sidecar
// that claims one row more for a table counted early means no swap.
TEST_F(RestoreSpeed, RowCountsTakenWhilePgRestoreRunsAreExactAndCompared) {
  pg().exec("app",
            "CREATE SCHEMA other; CREATE TABLE other.tasks (id int); INSERT INTO other.tasks SELECT generate_series(1, "
            "7); CREATE TABLE \"Odd.Name\" (id int); INSERT INTO \"Odd.Name\" SELECT generate_series(1, 300000); "
            "CREATE TABLE big AS SELECT md5(g::text) AS m "
            "FROM generate_series(1, 800000) g");
  two_releases(20000);
  std::string log = temp_dir("ferry-restore-speed-log") + "/ferry.log";
  auto r = project.ferry({"-vv", "--log-file", log, "rollback", "staging", "--backup", "before:0002"});
  EXPECT_EQ(r.code, 0) << r.all();
  std::ifstream in(log);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  fs::remove_all(fs::path(log).parent_path());
  // "Odd.Name" (10 MB) may be counted once its data is loaded, while big's still loads; the two
  // tables named tasks (and any under 8 MB) after pg_restore. How many were counted early depends
  // on the machine's speed (a pg_restore done within one progress tick counts none early): the
  // counts, wherever taken, must be exact.
  EXPECT_TRUE(contains(text, " of 4 tables counted while pg_restore ran)")) << text;
  EXPECT_EQ(q("SELECT count(*) FROM tasks"), "20000");
  EXPECT_EQ(q("SELECT count(*) FROM other.tasks"), "7");
  EXPECT_EQ(q("SELECT count(*) FROM \"Odd.Name\""), "300000");
  EXPECT_EQ(q("SELECT count(*) FROM big"), "800000");
  // Released again; the backup before 0002 is the newest. Its sidecar now claims a row more in
  // "Odd.Name", a table of one name, counted as soon as its data is loaded.
  project.migration("0002_notes", "CREATE TABLE notes (id int);", "DROP TABLE notes;");
  ASSERT_EQ(project.ferry({"run", "p"}).code, 0);
  oid_before = oid();
  std::string id = backup_before_0002();
  std::string sidecar = backups + "/" + id + ".json";
  json j;
  {
    std::ifstream sin(sidecar);
    j = json::parse(sin);
  }
  int claimed = 0;
  for (auto& [k, v] : j["row_counts"].items())
    if (contains(k, "Odd.Name")) v = 300001, ++claimed;
  ASSERT_EQ(claimed, 1) << j.dump(2);
  { std::ofstream(sidecar, std::ios::trunc) << j.dump(2); }
  auto bad = project.ferry({"rollback", "staging", "--backup", id});
  EXPECT_EQ(bad.code, 1) << bad.all();
  EXPECT_TRUE(contains(bad.out, "does not have the backup's row counts; nothing was swapped")) << bad.all();
  EXPECT_EQ(oid(), oid_before);
  EXPECT_EQ(q("SELECT to_regclass('notes') IS NOT NULL"), "t");
  EXPECT_EQ(leftovers(), "");
}

TEST_F(RestoreSpeed, ADamagedBackupFileStopsTheDecompressionChangesNothingAndSaysSo) {
  two_releases(200000);
  std::string file = backups + "/" + backup_before_0002() + ".dump.zst";
  {  // 4 KB of the middle of the compressed file overwritten
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(file) / 2));
    f << std::string(4096, '\x5a');
  }
  auto r = project.ferry({"rollback", "staging", "--backup", "before:0002"});
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(contains(r.out, "is damaged: it does not match its sha256")) << r.all();
  EXPECT_TRUE(contains(r.out, "the database is as it was")) << r.all();
  expect_untouched();
  EXPECT_EQ(leftovers(), "");
  EXPECT_EQ(temp_files(), "");
}

// Where ferry cannot decompress the file itself (another host, no O_TMPFILE, no /proc: forced
// here by the test switch), the script does, with the same judgement of a damaged file and the
// same result when the file is good.
TEST_F(RestoreSpeed, TheScriptThatDecompressesElsewhereJudgesAndRestoresAlike) {
  two_releases(20000);
  std::map<std::string, std::string> script{{"FERRY_TEST_RESTORE_SCRIPT", "1"}};
  std::string log = temp_dir("ferry-restore-speed-log") + "/ferry.log";
  std::string file = backups + "/" + backup_before_0002() + ".dump.zst";
  std::string good = file + ".good";
  fs::copy_file(file, good);
  {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(file) / 2));
    f << std::string(512, '\x5a');
  }
  auto bad = project.ferry({"rollback", "staging", "--backup", "before:0002"}, script);
  EXPECT_EQ(bad.code, 1) << bad.all();
  EXPECT_TRUE(contains(bad.out, "is damaged: it does not match its sha256")) << bad.all();
  expect_untouched();
  EXPECT_EQ(leftovers(), "");
  EXPECT_EQ(temp_files(), "");
  fs::rename(good, file);
  auto r = project.ferry({"-vv", "--log-file", log, "rollback", "staging", "--backup", "before:0002"}, script);
  std::ifstream in(log);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  fs::remove_all(fs::path(log).parent_path());
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_TRUE(contains(text, "swap restore: decompress and sha256 check ")) << text;
  EXPECT_EQ(q("SELECT count(*) FROM tasks"), "20000");
  EXPECT_EQ(q("SELECT to_regclass('notes') IS NULL"), "t");
  EXPECT_EQ(temp_files(), "");
}

// pg_restore stopped mid-way by the server: the backup names a role (a table's owner) that was
// dropped since. The copy is dropped, the database untouched, and pg_restore's error is shown.
TEST_F(RestoreSpeed, ARestoreStoppedByAMissingRoleChangesNothing) {
  pg().exec("postgres", "DROP ROLE IF EXISTS gone_owner; CREATE ROLE gone_owner");
  env();
  project.migration("0001_tasks",
                    "CREATE TABLE tasks (id serial PRIMARY KEY, title text NOT NULL);"
                    "INSERT INTO tasks (title) SELECT md5(g::text) FROM generate_series(1, 5000) g;",
                    "DROP TABLE tasks;");
  ASSERT_EQ(project.ferry({"run", "p"}).code, 0);
  pg().exec("app", "ALTER TABLE tasks OWNER TO gone_owner");
  project.migration("0002_notes", "CREATE TABLE notes (id int);", "DROP TABLE notes;");
  auto r2 = project.ferry({"run", "p"});
  ASSERT_EQ(r2.code, 0) << r2.all();
  pg().exec("app", "INSERT INTO tasks (title) VALUES ('after the release'); ALTER TABLE tasks OWNER TO postgres");
  pg().exec("postgres", "DROP ROLE gone_owner");
  rows_after = "5001";
  oid_before = oid();
  auto r = project.ferry({"rollback", "staging", "--backup", "before:0002"});
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(contains(r.out, "role \"gone_owner\" does not exist")) << r.all();
  EXPECT_TRUE(contains(r.out, "the database is as it was")) << r.all();
  expect_untouched();
  EXPECT_EQ(leftovers(), "");
  EXPECT_EQ(temp_files(), "");
}

// backup.dir on a 6 MB tmpfs: the compressed backups fit, the decompressed one (~30 MB) does not.
TEST_F(RestoreSpeed, AFullDiskWhileDecompressingChangesNothingAndSaysSo) {
  if (system(("mount -t tmpfs -o size=6m tmpfs " + ferry::shell_quote(backups) + " 2>/dev/null").c_str()) != 0)
    GTEST_SKIP() << "needs to mount a tmpfs (root)";
  mounted = true;
  two_releases(300000, "repeat('x', 100)");
  auto r = project.ferry({"rollback", "staging", "--backup", "before:0002"});
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(contains(r.out, "cannot decompress")) << r.all();
  EXPECT_TRUE(contains(r.out, "No space left on device")) << r.all();
  EXPECT_TRUE(contains(r.out, "the database is as it was")) << r.all();
  expect_untouched();
  EXPECT_EQ(leftovers(), "");
  EXPECT_EQ(temp_files(), "");
}

// ferry killed while the backup file is being decompressed (or, on a fast machine, a little
// later, while restoring into its copy): the original is untouched; once what ferry started has
// ended, the next rollback drops the copy and restores.
TEST_F(RestoreSpeed, FerryKilledWhileDecompressingLeavesTheDatabaseAndTheNextRollbackRestores) {
  two_releases(800000);
  Background bg({ferry_binary(), "-C", project.root(), "rollback", "staging", "--backup", "before:0002"});
  bool seen = wait_until([&] { return decompressing(bg.pid()); }, std::chrono::seconds(120));
  bg.signal(SIGKILL);
  auto killed = bg.wait();
  ASSERT_TRUE(seen) << "the decompression was never seen\n" << killed.all();
  expect_untouched();
  // What the killed ferry started (its decompression, pg_restore) ends on its own.
  EXPECT_TRUE(wait_until(
      [&] {
        return temp_files().empty() &&
               q("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pg_restore'", "postgres") == "0";
      },
      std::chrono::seconds(300)));
  expect_untouched();
  auto r = project.ferry({"rollback", "staging", "--backup", "before:0002"});
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_EQ(q("SELECT to_regclass('notes') IS NULL"), "t");
  EXPECT_EQ(q("SELECT count(*) FROM tasks"), "800000");
  EXPECT_TRUE(wait_until([&] { return leftovers().empty(); }, std::chrono::seconds(120))) << leftovers();
  EXPECT_EQ(temp_files(), "");
}

// pg_restore itself SIGKILLed mid-restore (found among ferry's descendants, never by name alone):
// ferry says the restore failed and changes nothing.
TEST_F(RestoreSpeed, PgRestoreKilledMidRestoreChangesNothing) {
  two_releases(800000);
  Background bg({ferry_binary(), "-C", project.root(), "rollback", "staging", "--backup", "before:0002"});
  pid_t victim = 0;
  wait_until([&] { return (victim = descendant_named(bg.pid(), "pg_restore")) > 0; }, std::chrono::seconds(120));
  if (victim > 0) kill(victim, SIGKILL);
  auto r = bg.wait();
  ASSERT_GT(victim, 0) << "pg_restore was never seen\n" << r.all();
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(contains(r.out, "the database is as it was")) << r.all();
  expect_untouched();
  EXPECT_TRUE(wait_until([&] { return leftovers().empty(); })) << leftovers();
  EXPECT_EQ(temp_files(), "");
}

}  // namespace
