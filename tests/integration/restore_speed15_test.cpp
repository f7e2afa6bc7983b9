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

namespace fs = std::filesystem;
using namespace ferry::test;
using nlohmann::json;

namespace {

class RestoreSpeed15 : public ::testing::Test {
 protected:
  static PgCluster& pg() {
    static PgCluster cluster;
    return cluster;
  }
  void SetUp() override {
    for (const auto& d : split(leftovers()))
      pg().exec("postgres", "DROP DATABASE IF EXISTS \"" + d + "\" WITH (FORCE)");
    pg().exec("postgres", "DROP DATABASE IF EXISTS app WITH (FORCE)");
    pg().exec("postgres", "CREATE DATABASE app");
    backups = temp_dir("ferry-restore-speed15");
    pause_dir = temp_dir("ferry-restore-speed15-pause");
  }
  void TearDown() override {
    fs::remove_all(backups);
    fs::remove_all(pause_dir);
  }
  static std::vector<std::string> split(const std::string& s) {
    std::vector<std::string> out;
    std::stringstream in(s);
    for (std::string d; std::getline(in, d, ',');)
      if (!d.empty()) out.push_back(d);
    return out;
  }
  void env(const std::string& extra = "") {
    project.write("environments/staging.yaml", "database:\n  name: app\n  user: postgres\n  host: 127.0.0.1\n  port: " +
                                                   std::to_string(pg().port()) + "\nbackup:\n  dir: " + backups +
                                                   "\n  restore: swap\n" + extra);
    project.write("playbooks/p.yaml", "stages: [staging]\nsteps: [backup, migrate]\n");
  }
  // 0001 (tasks: `rows` rows) then 0002 (notes), each by a run with its backup first; then a row
  // written after the release.
  void two_releases(int rows, const std::string& extra = "") {
    env(extra);
    project.migration("0001_tasks",
                      "CREATE TABLE tasks (id serial PRIMARY KEY, title text NOT NULL);"
                      "INSERT INTO tasks (title) SELECT md5(g::text) FROM generate_series(1, " +
                          std::to_string(rows) + ") g;",
                      "DROP TABLE tasks;");
    auto r1 = project.ferry({"run", "p"});
    ASSERT_EQ(r1.code, 0) << r1.all();
    project.migration("0002_notes", "CREATE TABLE notes (id int);", "DROP TABLE notes;");
    auto r2 = project.ferry({"run", "p"});
    ASSERT_EQ(r2.code, 0) << r2.all();
    pg().exec("app", "INSERT INTO tasks (title) VALUES ('after the release')");
    rows_after = std::to_string(rows + 1);
    oid_before = oid();
  }
  std::string q(const std::string& sql, const std::string& db = "app") { return pg().value(db, sql); }
  std::string oid() { return q("SELECT oid FROM pg_database WHERE datname = 'app'", "postgres"); }
  std::string leftovers() {
    return q("SELECT coalesce(string_agg(datname, ','), '') FROM pg_database WHERE datname LIKE 'ferry\\_re%'",
             "postgres");
  }
  std::string temp_files() {
    std::string out;
    for (const auto& e : fs::directory_iterator(backups))
      if (e.path().filename().string().rfind(".ferry-restore", 0) == 0) out += e.path().filename().string() + " ";
    return out;
  }
  std::string newest_backup() {
    auto list = json::parse(project.ferry({"backups", "staging", "--json"}).out);
    return list[0]["id"];  // taken before 0002
  }
  std::string read_log(const std::string& log) {
    std::ifstream in(log);
    return std::string((std::istreambuf_iterator<char>(in)), {});
  }
  void expect_untouched() {
    EXPECT_EQ(oid(), oid_before);
    EXPECT_EQ(q("SELECT datallowconn FROM pg_database WHERE datname = 'app'", "postgres"), "t");
    EXPECT_EQ(q("SELECT to_regclass('notes') IS NOT NULL"), "t");
    EXPECT_EQ(q("SELECT count(*) FROM tasks"), rows_after);
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
    for (const auto& e : fs::directory_iterator("/proc")) {
      pid_t pid = static_cast<pid_t>(std::atoi(e.path().filename().c_str()));
      if (pid <= 0) continue;
      std::ifstream cl(e.path() / "cmdline");
      std::string cmd((std::istreambuf_iterator<char>(cl)), {});
      if (cmd.find(needle) == std::string::npos || (!skip.empty() && cmd.rfind(skip, 0) == 0)) continue;
      for (pid_t p = pid; p > 1;) {
        std::ifstream st("/proc/" + std::to_string(p) + "/stat");
        std::string line;
        if (!std::getline(st, line) || line.rfind(')') == std::string::npos) break;
        std::istringstream rest(line.substr(line.rfind(')') + 2));
        std::string state;
        rest >> state >> p;
        if (p == root) {
          for (auto& c : cmd)
            if (c == '\0') c = ' ';
          return cmd;
        }
      }
    }
    return "";
  }

  Project project;
  std::string backups, pause_dir, rows_after, oid_before;
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
  EXPECT_TRUE(wait_until([&] { return !temp_files().empty(); }, std::chrono::seconds(120)));  // decompressing
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
