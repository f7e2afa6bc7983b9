// Code rolls back with the schema: services.NAME.version read before the run, services.NAME.rollback
// run with FERRY_PREVIOUS_VERSION when a restart is undone, and health probes with headers. Real
// PostgreSQL, the real ferry binary, the real example backend and a real python3 HTTP server.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>

#include "support/fixtures.hpp"
#include "transport/transport.hpp"

namespace fs = std::filesystem;
using namespace ferry::test;

namespace {

const char* k_base_schema =
    "CREATE TABLE tasks (id bigserial PRIMARY KEY, title text NOT NULL);"
    "INSERT INTO tasks (title) SELECT 'task ' || g FROM generate_series(1, 100) g;";

class CodeRollback : public ::testing::Test {
 protected:
  static PgCluster& pg() {
    static PgCluster cluster;
    return cluster;
  }
  void SetUp() override {
    pg().create_db("app");
    pg().exec("app", k_base_schema);
    backend = std::make_unique<Backend>(pg(), "app", "tasks.title");
    backups = temp_dir("ferry-code-backups");
    project.migration("0001_due_date", "ALTER TABLE tasks ADD COLUMN due_date timestamptz;",
                      "ALTER TABLE tasks DROP COLUMN due_date;");
    // The "deployed" code version lives in a file: a deploy step writes v2, the rollback v1 back.
    project.write("deployed", "v1\n");
    project.write("version.sh", "echo called >> version-calls\ncat deployed\n");
    project.write("deploy.sh", "echo v2 > deployed\n");
  }
  void TearDown() override { fs::remove_all(backups); }
  void write_env(const std::string& rollback_script) {
    project.write("rollback.sh", rollback_script);
    project.env("dev", pg(), "app",
                "backup:\n  dir: " + backups + "\nservices:\n  backend:\n    restart: " + backend->restart_command() +
                    "\n    version: sh version.sh\n    rollback: sh rollback.sh\n    health:\n      url: " +
                    backend->health_url() +
                    "\n      expect_body: '\"status\": \"ok\"'\n      timeout: 5s\n      interval: 100ms\n");
  }
  // deploy (a run step), migrate, restart, then a step that fails after the restart
  void failing_playbook() {
    project.write("playbooks/promote.yaml",
                  "stages: [dev]\nsteps:\n  - backup\n  - run: sh deploy.sh\n  - migrate\n  - restart: backend\n"
                  "  - sql: SELECT false\n");
  }
  bool healthy() {
    ferry::transport::LocalTransport t;
    auto r = t.run(ferry::transport::Command::shell("curl -s -o /dev/null -w '%{http_code}' " + backend->health_url()));
    return r.out == "200";
  }
  std::string due_date_columns() {
    return pg().value("app",
                      "SELECT count(*) FROM information_schema.columns WHERE table_name = 'tasks' AND "
                      "column_name = 'due_date'");
  }

  Project project;
  std::unique_ptr<Backend> backend;
  std::string backups;
};

TEST_F(CodeRollback, StepAfterRestartFailsAndTheCodeGoesBackToTheRecordedVersion) {
  write_env(
      "printf '%s\\n' \"$FERRY_PREVIOUS_VERSION\" > rolled-back-to\n"
      "printf '%s\\n' \"$FERRY_PREVIOUS_VERSION\" > deployed\n" +
      backend->restart_command() + "\n");
  failing_playbook();
  auto r = project.ferry({"run", "promote"});
  EXPECT_EQ(r.code, 1) << r.all();
  // read once, before the deploy step changed it
  EXPECT_EQ(project.read("version-calls"), "called\n");
  EXPECT_TRUE(contains(r.out, "version backend")) << r.out;
  EXPECT_TRUE(contains(r.out, "v1")) << r.out;
  ASSERT_TRUE(project.exists("rolled-back-to")) << r.all();
  EXPECT_EQ(project.read("rolled-back-to"), "v1\n");
  EXPECT_EQ(project.read("deployed"), "v1\n");
  EXPECT_TRUE(contains(r.out, "rolled back to v1")) << r.out;
  EXPECT_EQ(due_date_columns(), "0");
  EXPECT_EQ(pg().value("app", "SELECT count(*) FROM tasks"), "100");
  EXPECT_TRUE(contains(r.out, "backend healthy")) << r.out;  // the proof includes health
  EXPECT_TRUE(healthy());
}

TEST_F(CodeRollback, FailingRollbackCommandNeedsAHuman) {
  write_env("echo 'registry unreachable: image v1 not found' >&2\nexit 3\n");
  failing_playbook();
  auto r = project.ferry({"run", "promote"});
  EXPECT_EQ(r.code, 2) << r.all();
  EXPECT_TRUE(contains(r.all(), "rollback of 'backend' (sh rollback.sh) exited with 3")) << r.all();
  EXPECT_TRUE(contains(r.all(), "registry unreachable: image v1 not found")) << r.all();
  EXPECT_TRUE(contains(r.all(), "a human must act")) << r.all();
}

// A token-protected health endpoint: 200 {"status": "ok"} only with the right Authorization.
constexpr const char* k_token = "tok-Health-s3cret-4711";
constexpr const char* k_server =
    "import sys\n"
    "from http.server import BaseHTTPRequestHandler, HTTPServer\n"
    "port, token = int(sys.argv[1]), sys.argv[2]\n"
    "class H(BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        ok = self.headers.get('Authorization') == 'Bearer ' + token\n"
    "        body = b'{\"status\": \"ok\"}' if ok else b'{\"error\": \"unauthorized\"}'\n"
    "        self.send_response(200 if ok else 401)\n"
    "        self.send_header('Content-Length', str(len(body)))\n"
    "        self.end_headers()\n"
    "        self.wfile.write(body)\n"
    "    def log_message(self, *a):\n"
    "        pass\n"
    "HTTPServer(('127.0.0.1', port), H).serve_forever()\n";

TEST_F(CodeRollback, HealthProbeSendsSecretHeadersAndNeverShowsThem) {
  int port = free_port();
  project.write("api.py", k_server);
  Background server({"/usr/bin/python3", project.path("api.py"), std::to_string(port), k_token});
  std::string url = "http://127.0.0.1:" + std::to_string(port) + "/health";
  ferry::transport::LocalTransport t;
  std::string code;
  for (int i = 0; i < 200 && code != "401"; ++i) {
    code = t.run(ferry::transport::Command::shell("curl -s -o /dev/null -w '%{http_code}' " + url)).out;
    if (code != "401") std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(code, "401");  // without the header it is refused
  project.env("dev", pg(), "app",
              "services:\n  api:\n    health:\n      url: " + url +
                  "\n      expect_body: ok\n      timeout: 5s\n      interval: 100ms\n      headers:\n"
                  "        Authorization: Bearer ${secret:API_TOKEN}\n");
  project.write("playbooks/promote.yaml", "stages: [dev]\nsteps:\n  - migrate\n  - health: api\n");
  auto r = project.ferry({"run", "promote", "--report", project.path("report.json")}, {{"API_TOKEN", k_token}});
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_TRUE(contains(r.out, "healthy (" + url)) << r.out;
  EXPECT_FALSE(contains(r.all(), k_token));
  EXPECT_FALSE(contains(project.read("report.json"), k_token));
  int journals = 0;
  for (const auto& e : fs::directory_iterator(project.path(".ferry/runs"))) {
    std::ifstream in(e.path());
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_FALSE(contains(text, k_token)) << e.path();
    ++journals;
  }
  EXPECT_GE(journals, 1);
}

}  // namespace
