// The migration driver interface: with Alembic, an exit 0 is never proof. After `upgrade head`
// and after a `downgrade`, ferry reads alembic_version back and compares it with what it asked
// for. A wrapper around the real alembic that exits 0 without doing the work stands for an
// Alembic env that silently does nothing. Real PostgreSQL, the real ferry binary, real alembic.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "support/app_fixture.hpp"

namespace fs = std::filesystem;
using namespace ferry::test;

namespace {

// AppTest with an empty `app` (the Alembic revisions create tasks) and a backups directory.
class DriverAlembic : public AppTest<DriverAlembic> {
 protected:
  DriverAlembic() : AppTest({0, "ferry-driver-backups", true, false}) {}
  void SetUp() override {
    AppTest::SetUp();
    code = temp_dir("ferry-driver-alembic");
    fs::copy(source_dir() + "/examples/alembic", code, fs::copy_options::recursive);
    project.env("dev", pg(), "app", "backup:\n  dir: " + backups + "\n");
    // `fake` names the subcommand that exits 0 without running (a file, so a test can switch it).
    std::ofstream(code + "/alembic-wrapper.sh") << "#!/bin/sh\n"
                                                   "fake=$(cat \"$(dirname \"$0\")/fake\" 2>/dev/null)\n"
                                                   "for a in \"$@\"; do\n"
                                                   "  if [ -n \"$fake\" ] && [ \"$a\" = \"$fake\" ]; then\n"
                                                   "    echo \"pretending to $fake\"; exit 0\n"
                                                   "  fi\n"
                                                   "done\n"
                                                   "exec alembic \"$@\"\n";
  }
  void TearDown() override {
    fs::remove_all(code);
    AppTest::TearDown();
  }
  void fake(const std::string& subcommand) const { std::ofstream(code + "/fake") << subcommand; }
  std::string playbook(const std::string& steps) const {
    return "migrations: {driver: alembic, command: 'env DATABASE_URL=postgresql://postgres@127.0.0.1:" +
           std::to_string(pg().port()) + "/app sh " + code + "/alembic-wrapper.sh -c " + code +
           "/alembic.ini'}\nstages: [dev]\nsteps:\n" + steps;
  }
  std::string code;
};

TEST_F(DriverAlembic, AnUpgradeThatExitsZeroWithoutUpgradingIsAFailureRolledBack) {
  fake("upgrade");
  project.write("playbooks/promote.yaml", playbook("  - backup\n  - migrate\n"));
  auto r = project.ferry({"run", "promote"});
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(contains(r.out, "alembic upgrade head exited 0, but alembic_version says base, not c3")) << r.out;
  EXPECT_FALSE(contains(r.all(), "alembic upgrade head: base -> ")) << r.out;
  EXPECT_EQ(q("SELECT outcome FROM ferry.runs"), "rolled_back");
  EXPECT_EQ(q("SELECT count(*) FROM ferry.history WHERE action = 'applied'"), "0");
  EXPECT_EQ(q("SELECT to_regclass('tasks') IS NULL"), "t");
}

TEST_F(DriverAlembic, ADowngradeThatExitsZeroWithoutDowngradingIsNotTakenAsTheUndo) {
  project.write("playbooks/promote.yaml", playbook("  - backup\n  - migrate\n  - sql: SELECT false\n"));
  fake("downgrade");
  auto r = project.ferry({"run", "promote"});
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(contains(r.out, "alembic downgrade base exited 0, but alembic_version says c3, not base")) << r.out;
  EXPECT_TRUE(contains(r.out, "restored backup dev-")) << r.out;
  EXPECT_EQ(q("SELECT outcome FROM ferry.runs"), "rolled_back");
  EXPECT_EQ(q("SELECT to_regclass('alembic_version') IS NULL"), "t");
  EXPECT_EQ(q("SELECT to_regclass('tasks') IS NULL"), "t");
}

TEST_F(DriverAlembic, RollbackToWithADowngradeThatDidNothingNeedsAHuman) {
  project.write("playbooks/promote.yaml", playbook("  - backup\n  - migrate\n"));
  auto r = project.ferry({"run", "promote"});
  ASSERT_EQ(r.code, 0) << r.all();
  ASSERT_EQ(q("SELECT version_num FROM alembic_version"), "c3");
  fake("downgrade");
  r = project.ferry({"rollback", "dev", "--to", "b2"});
  EXPECT_EQ(r.code, 2) << r.all();
  EXPECT_TRUE(contains(r.out, "alembic downgrade b2 exited 0, but alembic_version says c3, not b2")) << r.out;
  EXPECT_EQ(q("SELECT count(*) FROM ferry.history WHERE action = 'reverted'"), "0");
  EXPECT_EQ(q("SELECT outcome FROM ferry.runs WHERE playbook = 'rollback'"), "needs_attention");
}

}  // namespace
