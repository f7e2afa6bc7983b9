// The fixture most integration suites share: one real PostgreSQL cluster per suite and test
// process, a database `app` made anew for every test with a `tasks` table of N rows, a Project
// (removed by its destructor) and, when asked for, a temp directory for backups removed after
// each test.
#pragma once
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "support/fixtures.hpp"

namespace ferry::test {

// What a suite's `app` database and directories look like.
struct AppShape {
  int rows = 50;               // rows of tasks ('task 1', 'task 2', ...)
  std::string backups_prefix;  // temp_dir(prefix) for `backups`; "" = none
  bool title_required = true;  // tasks.title NOT NULL
  bool tasks = true;           // false: `app` is made empty (the suite's migrations create tasks)
};

// `Suite` is the derived fixture: each suite has its own cluster, made with
// Suite::cluster_password() (define it, public, to give one; none by default).
template <class Suite>
class AppTest : public ::testing::Test {
 protected:
  explicit AppTest(AppShape shape = {}) : m_shape(std::move(shape)) {}
  static PgCluster& pg() {
    static PgCluster cluster(Suite::cluster_password());
    return cluster;
  }
  static std::string cluster_password() { return ""; }

  void SetUp() override {
    pg().create_db("app");
    if (m_shape.tasks)
      pg().exec("app", std::string("CREATE TABLE tasks (id bigserial PRIMARY KEY, title text") +
                           (m_shape.title_required ? " NOT NULL" : "") +
                           ");"
                           "INSERT INTO tasks (title) SELECT 'task ' || g FROM generate_series(1, " +
                           std::to_string(m_shape.rows) + ") g;");
    if (!m_shape.backups_prefix.empty()) backups = temp_dir(m_shape.backups_prefix);
  }
  void TearDown() override {
    if (!backups.empty()) std::filesystem::remove_all(backups);
  }
  // One value read from `db` (app by default).
  std::string q(const std::string& sql, const std::string& db = "app") { return pg().value(db, sql); }

  Project project;
  std::string backups;

 private:
  AppShape m_shape;
};

}  // namespace ferry::test
