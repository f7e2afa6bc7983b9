// The swap restore after issue 11's restore15 cuts: pg_restore -j defaults to the CPUs of the host
// that runs it; progress is polled from the copy (no pg_restore -v); the copy is created while
// the backup file is decompressed and checked. Attacked where that overlap lives: ferry SIGKILLed
// with the copy just created beside the decompression, and a damaged file while the copy is
// created. Each time: the original untouched (same oid, rows, connections allowed), no SQL of
// the dump run, no copy and no decompressed file left. Real PostgreSQL, the real ferry binary.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/text.hpp"
#include "support/fixtures.hpp"
#include "swap_restore_fixture.hpp"

namespace fs = std::filesystem;
using namespace ferry::test;
using nlohmann::json;

namespace {

class RestoreSpeed15 : public SwapRestoreTest<RestoreSpeed15> {
 protected:
  RestoreSpeed15() : SwapRestoreTest("ferry-restore-speed15") {}
  void SetUp() override {
    for (const auto& d : split(leftovers()))
      pg().exec("postgres", "DROP DATABASE IF EXISTS \"" + d + "\" WITH (FORCE)");
    SwapRestoreTest::SetUp();
    pause_dir = temp_dir("ferry-restore-speed15-pause");
  }
  void TearDown() override {
    SwapRestoreTest::TearDown();
    fs::remove_all(pause_dir);
  }
  static std::vector<std::string> split(const std::string& s) {
    std::vector<std::string> out;
    std::stringstream in(s);
    for (std::string d; std::getline(in, d, ',');)
      if (!d.empty()) out.push_back(d);
    return out;
  }
  std::string read_log(const std::string& log) {
    std::ifstream in(log);
    return std::string((std::istreambuf_iterator<char>(in)), {});
  }
  // The user relations of the copy (the one ferry_restore_* database there is): 0 when no SQL
  // of the dump ran in it.
  std::string copy_relations() {
    auto names = split(leftovers());
    if (names.size() != 1) return "copies: " + leftovers();
    return q(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname NOT IN "
        "('pg_catalog', 'information_schema', 'pg_toast')",
        names[0]);
  }
  // The command line (NULs as spaces) of a descendant of `root` whose command line contains
  // `needle` and does not start with `skip`, "" when none.
  static std::string descendant_cmdline(pid_t root, const std::string& needle, const std::string& skip) {
    auto cmdline = [](pid_t pid) {
      std::ifstream cl("/proc/" + std::to_string(pid) + "/cmdline");
      return std::string((std::istreambuf_iterator<char>(cl)), {});
    };
    std::string cmd;  // the last one picked: the descendant's when one is found
    pid_t found = descendant(root, [&](pid_t pid) {
      cmd = cmdline(pid);
      return cmd.find(needle) != std::string::npos && (skip.empty() || cmd.rfind(skip, 0) != 0);
    });
    if (found == 0) return "";
    for (auto& c : cmd)
      if (c == '\0') c = ' ';
    return cmd;
  }

  std::string pause_dir;
};

// restore_jobs unset: pg_restore -j the CPUs of the host that runs it; set: that number.
TEST_F(RestoreSpeed15, JobsDefaultToTheHostsCpusAndAnExplicitRestoreJobsWins) {
  two_releases(5000);
  std::string log = pause_dir + "/ferry.log";
  auto r = project.ferry({"-vv", "--log-file", log, "rollback", "staging", "--backup", "before:0002"});
  ASSERT_EQ(r.code, 0) << r.all();
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  EXPECT_TRUE(contains(read_log(log), "swap restore: pg_restore -j" + std::to_string(cpus) + " ")) << read_log(log);
  EXPECT_EQ(q("SELECT count(*) FROM tasks"), "5000");
  EXPECT_EQ(q("SELECT to_regclass('notes') IS NULL"), "t");

  project.migration("0002_notes", "CREATE TABLE notes (id int);", "DROP TABLE notes;");
  env("  restore_jobs: 3\n");
  ASSERT_EQ(project.ferry({"run", "p"}).code, 0);
  fs::remove(log);
  auto r3 = project.ferry({"-vv", "--log-file", log, "rollback", "staging", "--backup", newest_backup()});
  ASSERT_EQ(r3.code, 0) << r3.all();
  EXPECT_TRUE(contains(read_log(log), "swap restore: pg_restore -j3 ")) << read_log(log);
  EXPECT_EQ(q("SELECT count(*) FROM tasks"), "5000");
}

// pg_restore runs without -v; the progress line (size, relations, elapsed) comes from the copy.
TEST_F(RestoreSpeed15, ProgressIsReadFromTheCopyAndPgRestoreRunsWithoutVerbose) {
  two_releases(1500000);
  std::string log = pause_dir + "/ferry.log";
  Background bg({ferry_binary(), "-C", project.root(), "-vv", "--log-file", log, "rollback", "staging", "--backup",
                 "before:0002"});
  std::string cmdline;
  wait_until([&] { return !(cmdline = descendant_cmdline(bg.pid(), "pg_restore", "bash")).empty(); },
             std::chrono::seconds(120));
  auto r = bg.wait();
  ASSERT_EQ(r.code, 0) << r.all();
  ASSERT_FALSE(cmdline.empty()) << "pg_restore was never seen\n" << r.all();
  EXPECT_TRUE(contains(cmdline, " -j")) << cmdline;
  // the archive ferry decompressed itself, opened through ferry's own open file
  EXPECT_TRUE(contains(cmdline, " /proc/" + std::to_string(bg.pid()) + "/fd/")) << cmdline;
  EXPECT_FALSE(contains(cmdline, " -v ") || contains(cmdline, "--verbose")) << cmdline;
  std::string text = read_log(log);
  EXPECT_TRUE(contains(text, " relation(s), ") && contains(text, " elapsed")) << text;
  EXPECT_EQ(q("SELECT count(*) FROM tasks"), "1500000");
}

// SIGKILL with the copy just created, beside the decompression (held at swap:created): no SQL
// of the dump ran in the copy, the decompressed file goes once the script sees ferry gone, the
// original is untouched; the next rollback drops the copy and restores.
TEST_F(RestoreSpeed15, KilledWithTheCopyCreatedBesideTheDecompressionChangesNothing) {
  two_releases(200000);
  std::string pause = pause_dir + "/paused";
  Background bg({ferry_binary(), "-C", project.root(), "rollback", "staging", "--backup", "before:0002"},
                {{"FERRY_TEST_PAUSE_AT", "swap:created"}, {"FERRY_TEST_PAUSE_FILE", pause}});
  bool reached = wait_until([&] { return fs::exists(pause); }, std::chrono::seconds(120));
  EXPECT_TRUE(wait_until([&] { return decompressing(bg.pid()); }, std::chrono::seconds(120)));
  EXPECT_EQ(temp_files(), "");  // a backup on this machine: ferry's unnamed file, never one with a name
  EXPECT_EQ(copy_relations(), "0");
  bg.signal(SIGKILL);
  auto killed = bg.wait();
  fs::remove(pause);
  ASSERT_TRUE(reached) << killed.all();
  EXPECT_TRUE(wait_until([&] { return temp_files().empty(); }, std::chrono::seconds(120))) << temp_files();
  EXPECT_EQ(copy_relations(), "0");  // pg_restore never ran
  expect_untouched();
  auto r = project.ferry({"rollback", "staging", "--backup", "before:0002"});
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_EQ(q("SELECT to_regclass('notes') IS NULL"), "t");
  EXPECT_EQ(q("SELECT count(*) FROM tasks"), "200000");
  EXPECT_TRUE(wait_until([&] { return leftovers().empty(); }, std::chrono::seconds(120))) << leftovers();
  EXPECT_EQ(temp_files(), "");
}

// A damaged file found while the copy is created (held at swap:created until the file is judged):
// no SQL of the dump runs in the copy, the decompressed file is already gone; then the copy is
// dropped, ferry says why (exit 1) and the original is untouched.
TEST_F(RestoreSpeed15, ADamagedFileRunsNoSqlOfTheDumpAndLeavesNoCopyNorFile) {
  two_releases(200000);
  std::string file = backups + "/" + newest_backup() + ".dump.zst";
  {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(file) / 2));
    f << std::string(4096, '\x5a');
  }
  std::string pause = pause_dir + "/paused";
  std::string log = pause_dir + "/ferry.log";
  Background bg({ferry_binary(), "-C", project.root(), "-vv", "--log-file", log, "rollback", "staging", "--backup",
                 "before:0002"},
                {{"FERRY_TEST_PAUSE_AT", "swap:created"}, {"FERRY_TEST_PAUSE_FILE", pause}});
  bool reached = wait_until([&] { return fs::exists(pause); }, std::chrono::seconds(120));
  // The script judges the file on its own while the copy waits: it ends, its file removed.
  EXPECT_TRUE(
      wait_until([&] { return descendant_cmdline(bg.pid(), "ferry-restore", "").empty(); }, std::chrono::seconds(120)));
  EXPECT_EQ(temp_files(), "");
  EXPECT_EQ(copy_relations(), "0");
  fs::remove(pause);
  auto r = bg.wait();
  ASSERT_TRUE(reached) << r.all();
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(contains(r.out, "is damaged: it does not match its sha256")) << r.all();
  EXPECT_TRUE(contains(r.out, "the database is as it was")) << r.all();
  EXPECT_FALSE(contains(read_log(log), "swap restore: pg_restore -j")) << read_log(log);
  expect_untouched();
  EXPECT_EQ(leftovers(), "");
  EXPECT_EQ(temp_files(), "");
}

// The file decompresses cleanly but is not the one its sidecar hashed (OpenSSL's hash where
// installed, else sha256sum, beside the decompression): no SQL of the dump runs, exit 1.
TEST_F(RestoreSpeed15, AFileThatIsNotTheOneHashedIsRefusedBeforeAnySqlOfTheDump) {
  two_releases(20000);
  std::string sidecar = backups + "/" + newest_backup() + ".json";
  json j;
  {
    std::ifstream in(sidecar);
    j = json::parse(in);
  }
  j["sha256"] = std::string(64, 'a');
  { std::ofstream(sidecar, std::ios::trunc) << j.dump(2); }
  std::string log = pause_dir + "/ferry.log";
  auto r = project.ferry({"-vv", "--log-file", log, "rollback", "staging", "--backup", "before:0002"});
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(contains(r.out, "does not match its sha256")) << r.all();
  EXPECT_FALSE(contains(read_log(log), "swap restore: pg_restore -j")) << read_log(log);
  expect_untouched();
  EXPECT_EQ(leftovers(), "");
  EXPECT_EQ(temp_files(), "");
}

}  // namespace
