// The Alembic driver: a real Alembic project (examples/alembic: SQLAlchemy models, three
// revisions) migrated by `docker exec` into a container, and rolled back by `alembic
// downgrade` when the backend's health fails.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "support/fixtures.hpp"

namespace fs = std::filesystem;
using namespace ferry::test;
using nlohmann::json;

namespace {

TEST(Alembic, UpgradeThroughDockerExecAndDowngradeOnFailedHealth) {
  if (getuid() != 0 || !fs::exists("/usr/bin/podman")) GTEST_SKIP() << "needs root and podman";
  PgCluster pg;
  pg.create_db("app");
  Container app;
  if (!app.ok()) GTEST_SKIP() << "podman could not start a container here (see stderr)";
  std::string code = temp_dir("ferry-alembic-app");
  fs::copy(source_dir() + "/examples/alembic", code, fs::copy_options::recursive);
  Backend backend(pg, "app", "tasks.title,tasks.due_date,tasks.priority_id");
  std::string backups = temp_dir("ferry-alembic-backups");
  Project project;
  std::string url = "postgresql://postgres@127.0.0.1:" + std::to_string(pg.port()) + "/app";
  project.write("environments/dev.yaml",
                "connections:\n  app:\n    type: docker\n    container: " + app.name() +
                    "\n    engine: /usr/bin/docker\n"
                    "    workdir: " +
                    code + "\ndatabase:\n  name: app\n  user: postgres\n  host: 127.0.0.1\n  port: " +
                    std::to_string(pg.port()) + "\nbackup:\n  dir: " + backups + "\n" + backend.yaml());
  project.write("playbooks/promote.yaml",
                "migrations: {driver: alembic, on: app, command: 'env DATABASE_URL=" + url +
                    " alembic'}\n"
                    "stages: [dev]\nsteps:\n  - backup\n  - migrate\n  - verify:\n      columns:\n"
                    "        - tasks.due_date: timestamp with time zone\n      row_counts: all\n"
                    "  - restart: backend\n  - health: backend\n");
  auto plan = project.ferry({"plan", "promote"});
  EXPECT_EQ(plan.code, 0) << plan.all();
  EXPECT_TRUE(contains(plan.out, "at alembic revision none; 3 pending")) << plan.out;
  EXPECT_TRUE(contains(plan.out, "+ c3  priorities")) << plan.out;

  auto r = project.ferry({"run", "promote"});
  ASSERT_EQ(r.code, 0) << r.all();
  EXPECT_TRUE(contains(r.out, "alembic upgrade head: base -> c3 (3 revisions)")) << r.out;
  EXPECT_EQ(pg.value("app", "SELECT version_num FROM alembic_version"), "c3");
  EXPECT_EQ(pg.value("app", "SELECT count(*) FROM tasks"), "100");
  EXPECT_EQ(pg.value("app", "SELECT version_after FROM ferry.runs"), "c3");
  std::string fp = json::parse(project.ferry({"status", "--json"}).out)[0]["fingerprint"];
  EXPECT_EQ(json::parse(project.ferry({"status", "--json"}).out)[0]["alembic_revision"], "c3");

  // A revision that breaks the backend: rolled back by `alembic downgrade c3`, proven.
  fs::copy(source_dir() + "/examples/alembic-breaking/d4_rename_title.py", code + "/versions/d4_rename_title.py");
  r = project.ferry({"run", "promote"});
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(contains(r.out, "backend unhealthy")) << r.out;
  EXPECT_TRUE(contains(r.out, "alembic downgrade c3 (from d4)")) << r.out;
  EXPECT_TRUE(contains(r.out, "backend healthy")) << r.out;
  EXPECT_EQ(pg.value("app", "SELECT version_num FROM alembic_version"), "c3");
  EXPECT_EQ(json::parse(project.ferry({"status", "--json"}).out)[0]["fingerprint"], fp);
  EXPECT_EQ(pg.value("app", "SELECT outcome FROM ferry.runs ORDER BY started DESC LIMIT 1"), "rolled_back");
  fs::remove_all(code);
  fs::remove_all(backups);
}

}  // namespace
