// Hooks: `on_failure:` and `finally:` run steps after a stage, with the FERRY_* variables (the
// stage's outcome among them). Real PostgreSQL, the real ferry binary, real commands writing
// their environment to files.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <sstream>

#include "support/app_fixture.hpp"
#include "support/fixtures.hpp"

namespace fs = std::filesystem;
using namespace ferry::test;

namespace {

constexpr const char* k_password = "s3cret-pw-$(touch /tmp/pwned)'\"";  // the shared scram template's
constexpr const char* k_dump_env = "env | grep '^FERRY_' | sort > ";

class Hooks : public AppTest<Hooks> {
 public:
  static std::string cluster_password() { return k_password; }

 protected:
  Hooks() : AppTest({20, "ferry-hooks-backups"}) {}
  void SetUp() override {
    AppTest::SetUp();
    project.write("environments/dev.yaml",
                  "database:\n  name: app\n  user: postgres\n  password: ${secret:PGPW}\n"
                  "  host: 127.0.0.1\n  port: " +
                      std::to_string(pg().port()) + "\nbackup:\n  dir: " + backups + "\n");
    project.migration("0001_due_date", "ALTER TABLE tasks ADD COLUMN due_date timestamptz;",
                      "ALTER TABLE tasks DROP COLUMN due_date;");
  }
  void playbook(const std::string& hooks) {
    project.write("playbooks/promote.yaml", "stages: [dev]\nsteps:\n  - backup\n  - migrate\n  - run: " +
                                                std::string(k_dump_env) + "step_env.txt\n" + hooks);
  }
  Proc ferry(std::vector<std::string> args) { return project.ferry(args, {{"PGPW", k_password}}); }
  std::map<std::string, std::string> vars(const std::string& file) {
    std::map<std::string, std::string> out;
    std::istringstream in(project.read(file));
    for (std::string line; std::getline(in, line);)
      out[line.substr(0, line.find('='))] = line.substr(line.find('=') + 1);
    return out;
  }
  std::string last_run_id() { return pg().value("app", "SELECT id FROM ferry.runs ORDER BY started DESC LIMIT 1"); }
};

const std::string k_both_hooks = std::string("on_failure:\n  - run: ") + k_dump_env +
                                 "failure_env.txt\nfinally:\n  - run: " + k_dump_env + "finally_env.txt\n";

}  // namespace

TEST_F(Hooks, FinallySeesTheSucceededOutcomeAndTheBackup) {
  playbook(k_both_hooks);
  auto r = ferry({"run", "promote"});
  ASSERT_EQ(r.code, 0) << r.all();
  EXPECT_FALSE(project.exists("failure_env.txt")) << "on_failure ran after a success";
  auto fin = vars("finally_env.txt");
  std::string run_id = last_run_id();
  EXPECT_EQ(fin["FERRY_RUN_ID"], run_id);
  EXPECT_EQ(fin["FERRY_PLAYBOOK"], "promote");
  EXPECT_EQ(fin["FERRY_ENV"], "dev");
  EXPECT_EQ(fin["FERRY_STAGE_OUTCOME"], "succeeded");
  EXPECT_EQ(fin["FERRY_BACKUP_ID"], pg().value("app", "SELECT backup_id FROM ferry.runs WHERE id = '" + run_id + "'"));
  EXPECT_TRUE(fs::exists(fin["FERRY_BACKUP_FILE"])) << project.read("finally_env.txt");
  // A run step inside the stage: the same variables, the outcome present and empty.
  auto step = vars("step_env.txt");
  ASSERT_TRUE(step.count("FERRY_STAGE_OUTCOME")) << project.read("step_env.txt");
  EXPECT_EQ(step["FERRY_STAGE_OUTCOME"], "");
  EXPECT_EQ(step["FERRY_RUN_ID"], run_id);
  EXPECT_EQ(step["FERRY_BACKUP_ID"], fin["FERRY_BACKUP_ID"]);
}

TEST_F(Hooks, OnFailureRunsAfterTheRollbackKnowingTheOutcome) {
  project.migration("0002_broken", "ALTER TABLE no_such_table ADD COLUMN x int;", "-- nothing\n");
  // The hook also looks at the database: after the rollback the column is gone again.
  playbook(std::string("on_failure:\n  - run: ") + k_dump_env +
           "failure_env.txt && PGPASSWORD=\"${PGPW}\" psql -h 127.0.0.1 -p " + std::to_string(pg().port()) +
           " -U postgres -d app -Atc \"SELECT count(*) FROM information_schema.columns WHERE table_name = 'tasks' "
           "AND column_name = 'due_date'\" > columns.txt\nfinally:\n  - run: " +
           k_dump_env + "finally_env.txt\n");
  auto r = ferry({"run", "promote"});
  ASSERT_EQ(r.code, 1) << r.all();
  auto fail = vars("failure_env.txt");
  EXPECT_EQ(fail["FERRY_STAGE_OUTCOME"], "rolled_back");
  EXPECT_EQ(fail["FERRY_RUN_ID"], last_run_id());
  EXPECT_FALSE(fail["FERRY_BACKUP_ID"].empty());
  EXPECT_EQ(project.read("columns.txt"), "0\n");
  EXPECT_EQ(vars("finally_env.txt")["FERRY_STAGE_OUTCOME"], "rolled_back");
}

TEST_F(Hooks, FailingHookNeverChangesTheOutcome) {
  playbook("finally:\n  - run: echo hook broke >&2; exit 7\n  - run: touch second_hook_ran\n");
  auto ok = ferry({"run", "promote"});
  EXPECT_EQ(ok.code, 0) << ok.all();
  EXPECT_TRUE(contains(ok.all(), "exited with 7")) << ok.all();
  EXPECT_TRUE(contains(ok.all(), "the stage's outcome stays succeeded")) << ok.all();
  EXPECT_TRUE(project.exists("second_hook_ran"));
  EXPECT_EQ(pg().value("app", "SELECT outcome FROM ferry.runs ORDER BY started DESC LIMIT 1"), "succeeded");

  project.migration("0002_broken", "ALTER TABLE no_such_table ADD COLUMN x int;", "-- nothing\n");
  playbook("on_failure:\n  - run: exit 2\n");
  auto failed = ferry({"run", "promote"});
  EXPECT_EQ(failed.code, 1) << failed.all();
  EXPECT_TRUE(contains(failed.all(), "the stage's outcome stays rolled_back")) << failed.all();
  EXPECT_EQ(pg().value("app", "SELECT outcome FROM ferry.runs ORDER BY started DESC LIMIT 1"), "rolled_back");
}

TEST_F(Hooks, ValidationNamesFileLineAndColumn) {
  playbook("finally:\n  - run:\n      command: true\n      comand: false\n");
  auto r = ferry({"validate"});
  EXPECT_EQ(r.code, 64) << r.all();
  EXPECT_TRUE(contains(r.all(), "playbooks/promote.yaml:9:7")) << r.all();
  EXPECT_TRUE(contains(r.all(), "comand")) << r.all();

  playbook("on_failure:\n  - migrate\n");
  r = ferry({"validate"});
  EXPECT_EQ(r.code, 64) << r.all();
  EXPECT_TRUE(contains(r.all(), "playbooks/promote.yaml:7:5")) << r.all();
  EXPECT_TRUE(contains(r.all(), "must be a run step")) << r.all();

  playbook("on_failure: stpo\n");  // the scalar form is still rollback | stop
  r = ferry({"validate"});
  EXPECT_EQ(r.code, 64) << r.all();
  EXPECT_TRUE(contains(r.all(), "playbooks/promote.yaml:6:")) << r.all();
}
