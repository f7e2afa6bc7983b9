// What the swap-restore suites (restore_speed_test.cpp, restore_speed15_test.cpp) share: a
// database `app` made anew, a `restore: swap` environment, two releases each with its backup
// first, and the checks a user makes after a restore that must have changed nothing (same oid,
// rows, connections allowed; no copy, no decompressed file). `Suite` is the derived fixture:
// each suite keeps its own cluster.
#pragma once
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "support/fixtures.hpp"

namespace ferry::test {

template <class Suite>
class SwapRestoreTest : public ::testing::Test {
 protected:
  explicit SwapRestoreTest(std::string backups_prefix) : m_prefix(std::move(backups_prefix)) {}
  static PgCluster& pg() {
    static PgCluster cluster;
    return cluster;
  }
  void SetUp() override {
    pg().exec("postgres", "DROP DATABASE IF EXISTS app WITH (FORCE)");
    pg().exec("postgres", "CREATE DATABASE app");
    backups = temp_dir(m_prefix);
  }
  void TearDown() override { std::filesystem::remove_all(backups); }
  void env(const std::string& extra = "") {
    project.write("environments/staging.yaml", "database:\n  name: app\n  user: postgres\n  host: 127.0.0.1\n  port: " +
                                                   std::to_string(pg().port()) + "\nbackup:\n  dir: " + backups +
                                                   "\n  restore: swap\n" + extra);
    project.write("playbooks/p.yaml", "stages: [staging]\nsteps: [backup, migrate]\n");
  }
  // 0001 (tasks: `rows` rows of `title`) then 0002 (notes), each by a run with its backup first;
  // then a row written after the release.
  void two_releases(int rows, const std::string& title = "md5(g::text)") {
    env();
    project.migration("0001_tasks",
                      "CREATE TABLE tasks (id serial PRIMARY KEY, title text NOT NULL);"
                      "INSERT INTO tasks (title) SELECT " +
                          title + " FROM generate_series(1, " + std::to_string(rows) + ") g;",
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
  // The restored copies and replaced databases left on the server, comma-separated.
  std::string leftovers() {
    return q("SELECT coalesce(string_agg(datname, ','), '') FROM pg_database WHERE datname LIKE 'ferry\\_re%'",
             "postgres");
  }
  std::string temp_files() {
    std::string out;
    for (const auto& e : std::filesystem::directory_iterator(backups))
      if (e.path().filename().string().rfind(".ferry-restore", 0) == 0) out += e.path().filename().string() + " ";
    return out;
  }
  // The backup file being decompressed for `pid`'s restore: the script's named temporary file,
  // or the unnamed one (O_TMPFILE) ferry decompresses into itself, seen among its open files.
  bool decompressing(pid_t pid) {
    if (!temp_files().empty()) return true;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
      auto target = std::filesystem::read_symlink(e.path(), ec).string();
      if (!ec && target.rfind(backups + "/", 0) == 0 && target.find(" (deleted)") != std::string::npos) return true;
    }
    return false;
  }
  std::string newest_backup() {
    auto list = nlohmann::json::parse(project.ferry({"backups", "staging", "--json"}).out);
    return list[0]["id"];  // taken before 0002
  }
  // The database as it was before the rollback: same database, 0002's table, the later row.
  void expect_untouched() {
    EXPECT_EQ(oid(), oid_before);
    EXPECT_EQ(q("SELECT datallowconn FROM pg_database WHERE datname = 'app'", "postgres"), "t");
    EXPECT_EQ(q("SELECT to_regclass('notes') IS NOT NULL"), "t");
    EXPECT_EQ(q("SELECT count(*) FROM tasks"), rows_after);
  }
  // The first process below `root` (its parent, or theirs, is root) for which `pick(pid)` holds;
  // 0 when none.
  static pid_t descendant(pid_t root, const std::function<bool(pid_t)>& pick) {
    for (const auto& e : std::filesystem::directory_iterator("/proc")) {
      pid_t pid = static_cast<pid_t>(std::atoi(e.path().filename().c_str()));
      if (pid <= 0 || !pick(pid)) continue;
      for (pid_t p = parent_of(pid); p > 1; p = parent_of(p))
        if (p == root) return pid;
    }
    return 0;
  }
  // The name /proc/PID/stat gives a process ("" when it is gone).
  static std::string comm_of(pid_t pid) {
    std::string line = stat_line(pid);
    auto open = line.find('('), close = line.rfind(')');
    return close == std::string::npos ? "" : line.substr(open + 1, close - open - 1);
  }

  Project project;
  std::string backups, rows_after, oid_before;

 private:
  static std::string stat_line(pid_t pid) {
    std::ifstream st("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    std::getline(st, line);
    return line;
  }
  static pid_t parent_of(pid_t pid) {
    std::string line = stat_line(pid);
    auto close = line.rfind(')');
    if (close == std::string::npos) return 0;
    std::istringstream rest(line.substr(close + 2));
    std::string state;
    pid_t ppid = 0;
    rest >> state >> ppid;
    return ppid;
  }
  std::string m_prefix;
};

}  // namespace ferry::test
