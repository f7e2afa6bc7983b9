// `ferry lint` and `ferry plan` on an Alembic playbook: the real Alembic project of
// examples/alembic (plus a risky revision) run locally, its offline SQL (`alembic upgrade
// CURRENT:head --sql`) linted per revision and mapped back to the revision's script.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "core/text.hpp"
#include "support/fixtures.hpp"

namespace fs = std::filesystem;
using namespace ferry::test;
using nlohmann::json;

namespace {

std::string run_out(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

// The line of the first occurrence of `needle` in `text` (1-based), 0 when absent.
int line_of(const std::string& text, const std::string& needle) {
  std::istringstream in(text);
  std::string line;
  for (int n = 1; std::getline(in, line); ++n)
    if (line.find(needle) != std::string::npos) return n;
  return 0;
}

class LintAlembic : public ::testing::Test {
 protected:
  void SetUp() override {
    if (fs::exists("/usr/bin/alembic") == false) GTEST_SKIP() << "needs alembic";
    pg.create_db("app");
    code = temp_dir("ferry-lint-alembic");
    fs::copy(source_dir() + "/examples/alembic", code, fs::copy_options::recursive);
    std::ofstream(code + "/versions/d4_risky.py") << "\"\"\"index and drop\"\"\"\n"
                                                     "from alembic import op\n\n"
                                                     "revision = \"d4\"\ndown_revision = \"c3\"\n\n\n"
                                                     "def upgrade():\n"
                                                     "    op.create_index(\"tasks_title\", \"tasks\", [\"title\"])\n"
                                                     "    op.drop_column(\"tasks\", \"due_date\")\n\n\n"
                                                     "def downgrade():\n    pass\n";
    url = "postgresql://postgres@127.0.0.1:" + std::to_string(pg.port()) + "/app";
    alembic = "env DATABASE_URL=" + url + " alembic -c " + code + "/alembic.ini";
    project.env("dev", pg, "app");
    project.write("playbooks/promote.yaml",
                  "migrations: {driver: alembic, on: local, command: " + ferry::shell_quote(alembic) +
                      "}\nstages: [dev]\nsteps:\n  - migrate\n");
  }
  void TearDown() override {
    if (!code.empty()) fs::remove_all(code);
  }
  PgCluster pg;
  Project project;
  std::string code, url, alembic;
};

TEST_F(LintAlembic, OfflineSqlOfPendingRevisionsMappedBackToTheirScripts) {
  // From base: every revision is pending; c3's foreign key and d4's index and drop are found.
  auto r = project.ferry({"lint", "promote", "--json"});
  ASSERT_EQ(r.code, 3) << r.all();  // d4 drops a column: high on a table whose size is unknown
  json j = json::parse(r.out);
  const json& migs = j["targets"][0]["migrations"];
  ASSERT_EQ(migs.size(), 4u) << r.out;
  EXPECT_EQ(migs[0]["id"], "a1");
  EXPECT_EQ(migs[3]["id"], "d4");
  EXPECT_EQ(migs[3]["file"], code + "/versions/d4_risky.py");
  std::string sql = run_out(alembic + " upgrade head --sql 2>/dev/null");
  std::set<std::string> codes;
  for (const auto& f : migs[3]["findings"]) {
    codes.insert(f["code"].get<std::string>());
    EXPECT_EQ(f["file"], code + "/versions/d4_risky.py [d4, alembic --sql]");
    if (f["code"] == "FL020") {
      EXPECT_EQ(f["line"], line_of(sql, "CREATE INDEX tasks_title")) << sql;
    }
  }
  EXPECT_TRUE(codes.count("FL020")) << migs[3].dump(2);          // CREATE INDEX without CONCURRENTLY
  EXPECT_FALSE(migs[2]["findings"].empty()) << migs[2].dump(2);  // c3: foreign key on tasks

  // At c3: only d4 is pending, linted from `alembic upgrade c3:head --sql`, sizes read on dev.
  run_out(alembic + " upgrade c3 2>&1");
  ASSERT_EQ(pg.value("app", "SELECT version_num FROM alembic_version"), "c3");
  r = project.ferry({"lint", "promote"});
  EXPECT_EQ(r.code, 3) << r.all();
  EXPECT_TRUE(contains(r.out, "1 migration(s) linted")) << r.out;
  EXPECT_TRUE(contains(r.out, code + "/versions/d4_risky.py [d4, alembic --sql]:")) << r.out;
  EXPECT_TRUE(contains(r.out, "FL020 low: CREATE INDEX on tasks")) << r.out;  // 100 rows: small
  auto plan = project.ferry({"plan", "promote"});
  EXPECT_EQ(plan.code, 0) << plan.all();
  EXPECT_TRUE(contains(plan.out, "lint d4: ")) << plan.out;
  EXPECT_TRUE(contains(plan.out, "FL020 low (tasks)")) << plan.out;
  EXPECT_FALSE(contains(plan.all(), "lint c3")) << plan.out;
}

TEST_F(LintAlembic, PlanStillShowsThePlanWhenOfflineSqlFails) {
  std::ofstream(code + "/versions/e5_online_only.py") << "from alembic import context, op\n\n"
                                                         "revision = \"e5\"\ndown_revision = \"d4\"\n\n\n"
                                                         "def upgrade():\n"
                                                         "    if context.is_offline_mode():\n"
                                                         "        raise RuntimeError(\"online only\")\n\n\n"
                                                         "def downgrade():\n    pass\n";
  auto plan = project.ferry({"plan", "promote"});
  EXPECT_EQ(plan.code, 0) << plan.all();
  EXPECT_TRUE(contains(plan.out, "at alembic revision none; 5 pending")) << plan.out;
  EXPECT_TRUE(
      contains(plan.out, "lint: not available (`alembic upgrade --sql` failed; `ferry lint promote` shows why)"))
      << plan.out;
  auto lint = project.ferry({"lint", "promote"});
  EXPECT_NE(lint.code, 0) << lint.all();
  EXPECT_TRUE(contains(lint.all(), "online only")) << lint.all();
}

}  // namespace
