// PostgreSQL inside a container: pg_dump, pg_restore and psql run by `docker exec` (podman's
// docker CLI); the dump streams out of the container into the backup directory.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "support/fixtures.hpp"

namespace fs = std::filesystem;
using namespace ferry::test;
using nlohmann::json;

namespace {

TEST(DockerTools, BackupAndRestoreThroughDockerExec) {
  if (getuid() != 0 || !fs::exists("/usr/bin/podman")) GTEST_SKIP() << "needs root and podman";
  if (!Container().ok()) GTEST_SKIP() << "podman could not start a container here (see stderr)";
  PgCluster pg("", /*in_container=*/true);
  pg.create_db("app");
  pg.exec("app",
          "CREATE TABLE tasks (id serial PRIMARY KEY, title text NOT NULL); INSERT INTO tasks (title) SELECT 't' || g "
          "FROM generate_series(1, 1000) g;");
  Project project;
  std::string backups = temp_dir("ferry-docker-backups");
  project.write("environments/prod.yaml", "connections:\n  pg:\n    type: docker\n    container: " + pg.container() +
                                              "\n    engine: /usr/bin/docker\n"
                                              "database:\n  name: app\n  user: postgres\n  host: 127.0.0.1\n  port: " +
                                              std::to_string(pg.port()) + "\n  tools: pg\nbackup:\n  dir: " + backups +
                                              "\n");
  project.migration("0001_drop_title", "ALTER TABLE tasks DROP COLUMN title;",
                    "ALTER TABLE tasks ADD COLUMN title text;");
  project.write("playbooks/p.yaml",
                "stages: [prod]\nsteps:\n  - backup\n  - migrate\n  - verify:\n      columns: [tasks.title]\n");
  auto r = project.ferry({"run", "p"});
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(contains(r.out, "restored backup prod-")) << r.out;
  EXPECT_EQ(pg.value("app", "SELECT count(*) FROM tasks WHERE title LIKE 't%'"), "1000");
  auto list = json::parse(project.ferry({"backups", "prod", "--json"}).out);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_TRUE(fs::exists(list[0]["file"].get<std::string>()));
  fs::remove_all(backups);
}

}  // namespace
