// The run's lock held for the whole run (idle timeouts, a lost session), Alembic rollback to a
// revision, and failing commands reported with the lines that carry their error. Real
// PostgreSQL, the real ferry binary, real commands.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "support/app_fixture.hpp"
#include "support/fixtures.hpp"
#include "transport/transport.hpp"

namespace fs = std::filesystem;
using namespace ferry::test;
using nlohmann::json;

namespace {

class RunnerSafety : public AppTest<RunnerSafety> {
 protected:
  RunnerSafety() : AppTest({50, "ferry-runner-backups"}) {}
  void SetUp() override {
    AppTest::SetUp();
    project.env("dev", pg(), "app", "backup:\n  dir: " + backups + "\n");
  }
  // Polls `sql` until it returns `want` (about 10 s at most).
  bool wait_for(const std::string& sql, const std::string& want) {
    for (int i = 0; i < 200; ++i) {
      try {
        if (q(sql) == want) return true;
      } catch (const std::exception&) {
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }
  std::vector<json> journal_events(const std::string& run_id) {
    std::vector<json> out;
    std::ifstream in(project.path(".ferry/runs/" + run_id + ".jsonl"));
    for (std::string line; std::getline(in, line);) out.push_back(json::parse(line));
    return out;
  }
};

// Item 4: the server ends sessions idle for 1 s; ferry's session idles in a `run:` step (held
// open by a gate until the second run has been refused: a fixed `sleep 5` could end first on a
// loaded machine, and the second run would then succeed).
TEST_F(RunnerSafety, AnIdleSessionTimeoutDoesNotCostARunItsLock) {
  pg().exec("app", "ALTER DATABASE app SET idle_session_timeout = '1s'");
  project.migration("0001_due", "ALTER TABLE tasks ADD COLUMN due date;", "ALTER TABLE tasks DROP COLUMN due;");
  Gate gate;
  project.write("playbooks/promote.yaml",
                "stages: [dev]\nsteps:\n  - run: {command: " + gate.command() + "}\n  - migrate\n");
  Background first({ferry_binary(), "-C", project.root(), "run", "promote"}, {{"FERRY_OPERATOR", "alice"}});
  ASSERT_TRUE(wait_for("SELECT count(*) FROM ferry.runs WHERE outcome = 'running'", "1"));
  std::this_thread::sleep_for(std::chrono::milliseconds(1800));  // at least past the idle timeout
  auto second = project.ferry({"run", "promote"}, {{"FERRY_OPERATOR", "bob"}});
  gate.open();
  EXPECT_EQ(second.code, 3) << second.all();
  EXPECT_TRUE(contains(second.all(), "is locked by run")) << second.all();
  EXPECT_TRUE(contains(second.all(), "by alice")) << second.all();
  auto r = first.wait();
  EXPECT_EQ(r.code, 0) << r.all();
  pg().exec("app", "ALTER DATABASE app RESET idle_session_timeout");
  EXPECT_EQ(q("SELECT count(*) FROM ferry.migrations"), "1");
  EXPECT_EQ(q("SELECT string_agg(outcome, ',') FROM ferry.runs"), "succeeded");
}

TEST_F(RunnerSafety, ARollbackKeepsItsLockWhileServicesRestart) {
  Gate gate;  // the restart lasts until the second rollback was refused
  project.env("dev", pg(), "app",
              "backup:\n  dir: " + backups + "\nservices:\n  worker:\n    restart: " + gate.command() + "\n");
  ASSERT_EQ(project.ferry({"backup", "dev"}).code, 0);
  pg().exec("app", "ALTER DATABASE app SET idle_session_timeout = '1s'");
  Background first({ferry_binary(), "-C", project.root(), "rollback", "dev", "--backup", "latest"},
                   {{"FERRY_OPERATOR", "alice"}});
  ASSERT_TRUE(wait_for("SELECT count(*) FROM ferry.runs WHERE outcome = 'running'", "1"));
  std::this_thread::sleep_for(std::chrono::milliseconds(1800));
  auto second = project.ferry({"rollback", "dev", "--backup", "latest"}, {{"FERRY_OPERATOR", "bob"}});
  gate.open();
  EXPECT_EQ(second.code, 3) << second.all();
  EXPECT_TRUE(contains(second.out, "by alice")) << second.out;
  auto r = first.wait();
  EXPECT_EQ(r.code, 0) << r.all();
  pg().exec("app", "ALTER DATABASE app RESET idle_session_timeout");
  EXPECT_EQ(q("SELECT count(*) FROM tasks"), "50");
  EXPECT_EQ(q("SELECT string_agg(outcome, ',' ORDER BY started) FROM ferry.runs WHERE playbook = 'rollback'"),
            "succeeded");
}

// ferry's connection has TCP keepalives on at both ends (a NAT or proxy must not cut an idle
// run silently): as `ss -tno` shows them, ferry's own socket and the server's (30 s, not 2 h).
TEST_F(RunnerSafety, TheRunsConnectionHasTcpKeepalivesAtBothEnds) {
  Gate gate;  // the run lasts until its sockets were seen
  project.write("playbooks/promote.yaml", "stages: [dev]\nsteps:\n  - run: {command: " + gate.command() + "}\n");
  Background run({ferry_binary(), "-C", project.root(), "run", "promote"});
  ASSERT_TRUE(wait_for("SELECT count(*) FROM ferry.runs WHERE outcome = 'running'", "1"));
  std::string client, server, all;
  for (int i = 0; i < 300 && (client.empty() || server.empty()); ++i) {
    ferry::transport::LocalTransport t;
    ferry::transport::Command cmd;
    cmd.argv = {"ss", "-tnpo"};
    all = t.run(cmd).out;
    std::string ferry_port;
    std::istringstream in(all);
    std::vector<std::vector<std::string>> rows;
    for (std::string line; std::getline(in, line);) {
      std::istringstream words(line);
      rows.emplace_back(std::istream_iterator<std::string>(words), std::istream_iterator<std::string>());
      if (contains(line, "pid=" + std::to_string(run.pid()) + ",") && rows.back().size() > 3)
        ferry_port = rows.back()[3].substr(rows.back()[3].rfind(':'));
      if (contains(line, "pid=" + std::to_string(run.pid()) + ",") && contains(line, "timer:(keepalive,") &&
          !contains(line, "min,"))
        client = line;
    }
    for (const auto& w : rows)
      if (!ferry_port.empty() && w.size() > 5 && w[4].size() > ferry_port.size() &&
          w[4].substr(w[4].size() - ferry_port.size()) == ferry_port && contains(w.back(), "timer:(keepalive,") &&
          !contains(w.back(), "min,"))
        server = w.back();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  gate.open();
  EXPECT_FALSE(client.empty()) << all;
  EXPECT_FALSE(server.empty()) << all;
  EXPECT_EQ(run.wait().code, 0);
}

// The session dies after the migration committed: no success is claimed, nothing is undone
// on a session that is gone, and the outcome is still recorded.
// A session the server dropped: ferry reconnects and takes its lock again; with no other run in
// between, the usual rollback and proof say what is true.
TEST_F(RunnerSafety, ASessionLostAfterAChangeIsReconnectedRolledBackAndProven) {
  project.migration("0001_due", "ALTER TABLE tasks ADD COLUMN due date;", "ALTER TABLE tasks DROP COLUMN due;");
  Gate gate;  // the step after the change lasts until the session was ended
  project.write("playbooks/promote.yaml",
                "stages: [dev]\nsteps:\n  - migrate\n  - run: {command: " + gate.command() + "}\n");
  Background run({ferry_binary(), "-C", project.root(), "run", "promote"});
  ASSERT_TRUE(wait_for("SELECT count(*) FROM information_schema.columns WHERE column_name = 'due'", "1"));
  q("SELECT pg_terminate_backend(backend_pid) FROM ferry.runs WHERE outcome = 'running'");
  gate.open();
  auto r = run.wait();
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(contains(r.out, "reconnected")) << r.out;
  EXPECT_FALSE(contains(r.all(), "run succeeded")) << r.out;
  EXPECT_EQ(q("SELECT count(*) FROM information_schema.columns WHERE column_name = 'due'"), "0");
  EXPECT_EQ(q("SELECT outcome FROM ferry.runs"), "rolled_back");
}

// When another session takes the lock while ferry's session is gone, ferry undoes nothing.
TEST_F(RunnerSafety, ASessionLostAfterAChangeWhileAnotherTakesTheLockStopsAndSaysAHumanMustAct) {
  project.migration("0001_due", "ALTER TABLE tasks ADD COLUMN due date;", "ALTER TABLE tasks DROP COLUMN due;");
  Gate gate;  // ferry looks at its session again only once the other session holds the lock
  project.write("playbooks/promote.yaml",
                "stages: [dev]\nsteps:\n  - migrate\n  - run: {command: " + gate.command() + "}\n");
  Background run({ferry_binary(), "-C", project.root(), "run", "promote"});
  ASSERT_TRUE(wait_for("SELECT count(*) FROM information_schema.columns WHERE column_name = 'due'", "1"));
  auto other = pg().connect("app");
  other->exec("SELECT pg_terminate_backend(backend_pid) FROM ferry.runs WHERE outcome = 'running'");
  // The terminated backend releases the lock as it exits, a moment later.
  ASSERT_TRUE(wait_until([&] { return other->exec("SELECT pg_try_advisory_lock(1717924466, 1)").boolean(0, 0); }));
  gate.open();
  auto r = run.wait();
  EXPECT_EQ(r.code, 2) << r.all();
  EXPECT_TRUE(contains(r.all(), "lost its database session")) << r.all();
  EXPECT_TRUE(contains(r.all(), "a human must act")) << r.all();
  EXPECT_FALSE(contains(r.all(), "run succeeded")) << r.out;
  EXPECT_EQ(q("SELECT count(*) FROM information_schema.columns WHERE column_name = 'due'"), "1");
  EXPECT_EQ(q("SELECT outcome FROM ferry.runs"), "needs_attention");
}

TEST_F(RunnerSafety, ASessionLostBeforeAnyChangeFailsCleanly) {
  project.migration("0001_due", "ALTER TABLE tasks ADD COLUMN due date;", "ALTER TABLE tasks DROP COLUMN due;");
  Gate gate;  // the step before the change lasts until the session was ended
  project.write("playbooks/promote.yaml",
                "stages: [dev]\nsteps:\n  - run: {command: " + gate.command() + "}\n  - migrate\n");
  Background run({ferry_binary(), "-C", project.root(), "run", "promote"});
  ASSERT_TRUE(wait_for("SELECT count(*) FROM ferry.runs WHERE outcome = 'running'", "1"));
  q("SELECT pg_terminate_backend(backend_pid) FROM ferry.runs WHERE outcome = 'running'");
  gate.open();
  auto r = run.wait();
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(contains(r.out, "session was lost")) << r.out;
  EXPECT_EQ(q("SELECT count(*) FROM information_schema.columns WHERE column_name = 'due'"), "0");
  EXPECT_NE(q("SELECT outcome FROM ferry.runs"), "succeeded");
}

TEST_F(RunnerSafety, ARunWhoseSessionIsAliveIsNeverMarkedAbandoned) {
  project.write("playbooks/promote.yaml", "stages: [dev]\nsteps:\n  - migrate\n");
  ASSERT_EQ(project.ferry({"run", "promote"}).code, 0);  // creates schema ferry
  auto live = pg().connect("app");
  std::string pid = live->exec("SELECT pg_backend_pid()").text(0, 0);
  live->exec(
      "INSERT INTO ferry.runs (id, playbook, environment, operator, host, outcome, backend_pid) VALUES "
      "('live', 'promote', 'dev', 'dave', 'h1', 'running', " +
      pid +
      "), "
      "('dead', 'promote', 'dev', 'erin', 'h2', 'running', 2147483000)");
  auto r = project.ferry({"run", "promote"});
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_TRUE(contains(r.all(), "by erin on h2")) << r.all();
  EXPECT_FALSE(contains(r.all(), "by dave on h1")) << r.out;
  EXPECT_EQ(q("SELECT outcome FROM ferry.runs WHERE id = 'live'"), "running");
  EXPECT_EQ(q("SELECT outcome FROM ferry.runs WHERE id = 'dead'"), "abandoned");
}

// When ferry.runs cannot be written at the end, the run does not report a success its own
// ledger (which later gates trust) does not show.
TEST_F(RunnerSafety, AnOutcomeThatCannotBeRecordedIsNotReportedAsSuccess) {
  project.write("playbooks/promote.yaml", "stages: [dev]\nsteps:\n  - migrate\n");
  ASSERT_EQ(project.ferry({"run", "promote"}).code, 0);  // creates schema ferry
  pg().exec("app",
            "CREATE FUNCTION public.deny() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF NEW.outcome <> 'running' THEN RAISE EXCEPTION 'ferry.runs is read-only here'; END IF; "
            "RETURN NEW; END $$; CREATE TRIGGER deny BEFORE UPDATE ON ferry.runs FOR EACH ROW EXECUTE FUNCTION "
            "public.deny()");
  project.migration("0001_due", "ALTER TABLE tasks ADD COLUMN due date;", "ALTER TABLE tasks DROP COLUMN due;");
  auto r = project.ferry({"run", "promote"});
  EXPECT_EQ(r.code, 2) << r.all();
  EXPECT_TRUE(contains(r.all(), "could not record the run's outcome")) << r.all();
  EXPECT_TRUE(contains(r.all(), "ferry.runs is read-only here")) << r.all();
  EXPECT_TRUE(contains(r.all(), "UPDATE ferry.runs SET outcome = 'succeeded'")) << r.all();
  EXPECT_FALSE(contains(r.all(), "run succeeded")) << r.out;
  EXPECT_EQ(q("SELECT count(*) FROM ferry.migrations"), "1");
}

// Item 20: a failing command keeps its whole output (bounded), and the console shows the line
// that carries the error, not merely the last one.
TEST_F(RunnerSafety, AFailingCommandKeepsItsWholeOutputAndShowsTheErrorLine) {
  project.write("fail.sh",
                "for i in $(seq 1 300); do echo \"noise $i\" >&2; done\n"
                "echo 'ERROR: disk quota exceeded on /data' >&2\n"
                "for i in $(seq 1 150); do echo \"tail $i\" >&2; done\n"
                "echo 'more at https://help.example.invalid/q' >&2\nexit 3\n");
  project.write("playbooks/promote.yaml", "stages: [dev]\nsteps:\n  - run: {command: sh fail.sh}\n");
  std::string report = project.path("report.json");
  auto r = project.ferry({"run", "promote", "--report", report});
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(contains(r.out, "exited with 3 on local: ERROR: disk quota exceeded on /data")) << r.out;
  EXPECT_FALSE(contains(r.all(), "noise 1\n")) << r.out;
  EXPECT_FALSE(contains(r.all(), "tail 75")) << r.out;
  std::string error = q("SELECT error FROM ferry.runs");
  for (const char* part : {"ERROR: disk quota exceeded on /data", "noise 1\n", "noise 100\n",
                           "... 252 lines omitted ...", "tail 52\n", "more at https://help.example.invalid/q"})
    EXPECT_TRUE(contains(error, part)) << part << " missing from ferry.runs.error:\n" << error;
  EXPECT_FALSE(contains(error, "noise 101\n") || contains(error, "tail 51\n")) << error;
  auto doc = json::parse(std::ifstream(report));
  std::string journal_error, report_error;
  for (const auto& e : journal_events(doc["run_id"]))
    if (e["event"] == "step_failed") journal_error = e["error"];
  for (const auto& e : doc["events"])
    if (e["event"] == "step_failed") report_error = e["error"];
  EXPECT_TRUE(contains(journal_error, "... 252 lines omitted ...")) << journal_error;
  EXPECT_TRUE(contains(journal_error, "more at https://help.example.invalid/q")) << journal_error;
  EXPECT_EQ(report_error, journal_error);
}

// An Alembic project (examples/alembic) migrated by the real alembic on this machine.
class RunnerSafetyAlembic : public RunnerSafety {
 protected:
  void SetUp() override {
    RunnerSafety::SetUp();
    pg().exec("app", "DROP TABLE tasks");
    code = temp_dir("ferry-runner-alembic");
    fs::copy(source_dir() + "/examples/alembic", code, fs::copy_options::recursive);
    project.env("dev", pg(), "app",
                "backup:\n  dir: " + backups + "\nservices:\n  app:\n    restart: touch restarted\n");
  }
  void TearDown() override {
    fs::remove_all(code);
    RunnerSafety::TearDown();
  }
  std::string migrations_yaml(const std::string& db = "app") const {
    return "migrations: {driver: alembic, command: 'env DATABASE_URL=postgresql://postgres@127.0.0.1:" +
           std::to_string(pg().port()) + "/" + db + " alembic -c " + code + "/alembic.ini'}\n";
  }
  std::string code;
};

TEST_F(RunnerSafetyAlembic, RollbackToARevisionDowngradesOrRefuses) {
  project.write("playbooks/promote.yaml", migrations_yaml() + "stages: [dev]\nsteps:\n  - backup\n  - migrate\n");
  ASSERT_EQ(project.ferry({"run", "promote"}).code, 0);
  ASSERT_EQ(q("SELECT version_num FROM alembic_version"), "c3");

  auto r = project.ferry({"rollback", "dev", "--to", "b2"});
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_TRUE(contains(r.out, "alembic downgrade b2 (from c3), now at b2")) << r.out;
  EXPECT_EQ(q("SELECT version_num FROM alembic_version"), "b2");
  EXPECT_EQ(q("SELECT to_regclass('priorities') IS NULL"), "t");
  EXPECT_EQ(q("SELECT version || ' ' || action FROM ferry.history ORDER BY id DESC LIMIT 1"), "c3 reverted");
  EXPECT_EQ(q("SELECT outcome || ' ' || version_before || ' ' || version_after FROM ferry.runs "
              "WHERE playbook = 'rollback'"),
            "succeeded c3 b2");
  EXPECT_TRUE(project.exists("restarted"));

  r = project.ferry({"rollback", "dev", "--to", "b2"});
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_TRUE(contains(r.out, "already at b2")) << r.out;

  r = project.ferry({"rollback", "dev", "--to", "zz9"});
  EXPECT_EQ(r.code, 64) << r.all();
  EXPECT_TRUE(contains(r.out, "alembic revision 'zz9' is not in the history")) << r.out;
  r = project.ferry({"rollback", "dev", "--to", "c3"});
  EXPECT_EQ(r.code, 64) << r.all();
  EXPECT_TRUE(contains(r.out, "rollback only goes back")) << r.out;
  EXPECT_EQ(q("SELECT version_num FROM alembic_version"), "b2");

  // Back to base: proven against the backup the run took there.
  r = project.ferry({"rollback", "dev", "--to", "base"});
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_TRUE(contains(r.out, "equal to backup dev-")) << r.out;
  EXPECT_EQ(q("SELECT to_regclass('tasks') IS NULL"), "t");
}

TEST_F(RunnerSafetyAlembic, StatusAndTheGateNameThePendingRevisions) {
  pg().create_db("staging");
  project.env("staging", pg(), "staging", "requires: [dev]\n");
  project.write("playbooks/promote.yaml", migrations_yaml("staging") + "stages: [staging]\nsteps:\n  - migrate\n");
  auto st = project.ferry({"status", "--env", "staging", "--json"});
  ASSERT_EQ(st.code, 0) << st.all();
  EXPECT_EQ(json::parse(st.out)[0]["pending"], json({"a1", "b2", "c3"})) << st.out;
  auto r = project.ferry({"run", "promote"});
  EXPECT_EQ(r.code, 3) << r.all();
  EXPECT_TRUE(contains(r.all(), "dev: a1 (")) << r.all();
  EXPECT_TRUE(contains(r.all(), "dev: c3 (priorities) is not applied (dev is at base)")) << r.all();
  EXPECT_EQ(q("SELECT to_regclass('alembic_version') IS NULL"), "t");
}

TEST_F(RunnerSafetyAlembic, MigrateOptionsAlembicCannotHonourAreRefusedAtLoad) {
  project.write("playbooks/promote.yaml",
                migrations_yaml() + "stages: [dev]\nsteps:\n  - migrate: {lock_timeout: 1s}\n");
  auto r = project.ferry({"run", "promote"});
  EXPECT_EQ(r.code, 64) << r.all();
  EXPECT_TRUE(contains(r.all(), "playbooks/promote.yaml:4:")) << r.all();
  EXPECT_TRUE(contains(r.all(), "'lock_timeout' does not apply to the Alembic driver")) << r.all();
  EXPECT_EQ(q("SELECT to_regclass('alembic_version') IS NULL"), "t");
  project.write("playbooks/promote.yaml",
                migrations_yaml() + "stages: [dev]\nsteps:\n  - migrate: {transaction: each}\n");
  r = project.ferry({"validate"});
  EXPECT_EQ(r.code, 64) << r.all();
  EXPECT_TRUE(contains(r.all(), "'transaction' does not apply to the Alembic driver")) << r.all();
}

// Item 20 with Alembic: the console names the database error, not the sqlalche.me link.
TEST_F(RunnerSafetyAlembic, AFailedUpgradeShowsTheExceptionNotTheLink) {
  std::ofstream(code + "/versions/d4_broken.py")
      << "from alembic import op\n\nrevision = 'd4'\ndown_revision = 'c3'\n\n\n"
         "def upgrade():\n    op.execute('UPDATE tasks SET nosuch = 1')\n\n\ndef downgrade():\n    pass\n";
  project.write("playbooks/promote.yaml", migrations_yaml() + "stages: [dev]\nsteps:\n  - backup\n  - migrate\n");
  auto r = project.ferry({"run", "promote"});
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(contains(r.out, "column \"nosuch\" of relation \"tasks\" does not exist")) << r.out;
  std::string error = q("SELECT error FROM ferry.runs");
  EXPECT_TRUE(contains(error, "Traceback (most recent call last)")) << error;
  EXPECT_TRUE(contains(error, "sqlalche.me")) << error;
  EXPECT_EQ(q("SELECT to_regclass('tasks') IS NULL"), "t");
}

}  // namespace

// A database's statement_timeout is for its application: ferry's own session (baseline and proof
// row counts, sql steps) is bounded by the steps' own timeouts instead.
TEST_F(RunnerSafety, TheDatabasesStatementTimeoutDoesNotCutFerrysOwnSession) {
  pg().exec("app", "ALTER DATABASE app SET statement_timeout = '100ms'");
  project.write("playbooks/promote.yaml",
                "stages: [dev]\nsteps:\n  - migrate\n  - sql: SELECT pg_sleep(0.3) IS NOT NULL\n");
  auto r = project.ferry({"run", "promote"});
  pg().exec("app", "ALTER DATABASE app RESET statement_timeout");
  EXPECT_EQ(r.code, 0) << r.all();
}
