// Configuration parsing and strict validation: the exact messages users read.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "config/loader.hpp"
#include "core/error.hpp"

namespace fs = std::filesystem;
using namespace ferry;

namespace {
class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ferry-config-XXXXXX";
    m_root = mkdtemp(tmpl);
    fs::create_directories(m_root + "/environments");
    fs::create_directories(m_root + "/playbooks");
  }
  void TearDown() override { fs::remove_all(m_root); }
  void write(const std::string& rel, const std::string& text) { std::ofstream(m_root + "/" + rel) << text; }
  std::string error_of_project() {
    try {
      config::load_project(m_root);
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Config);
      return e.what();
    }
    return "no error";
  }
  std::string error_of_playbook(const std::string& name) {
    try {
      auto p = config::load_project(m_root);
      config::load_playbook(p, name);
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Config);
      return e.what();
    }
    return "no error";
  }
  std::string m_root;
};

const char* k_dev = "database:\n  name: app\n";
}  // namespace

TEST_F(ConfigTest, FullEnvironmentFromSpecIsAccepted) {
  setenv("FERRY_TEST_PW", "s3cret-value", 1);
  write("environments/staging.yaml", R"(# environments/staging.yaml
description: Staging stack on stage-1
protected: false
requires: [dev]
connections:
  host:
    type: ssh
    host: stage-1.internal
    port: 22
    user: deploy
    identity: ~/.ssh/id_ed25519
    known_hosts: ~/.ssh/known_hosts
    host_key: strict
  app:
    type: docker
    container: novel_builder-backend-1
    via: host
    engine: docker
    user: app
    workdir: /app
  pg:
    type: docker
    container: novel_builder-postgres-1
    via: host
database:
  name: novel_db
  user: novel_user
  password: ${FERRY_TEST_PW}
  host: 127.0.0.1
  port: 5432
  tunnel: host
  sslmode: prefer
  tools: pg
backup:
  on: host
  dir: /var/backups/novel
  format: custom
  jobs: 1
  keep: 7
services:
  backend:
    on: host
    restart: docker compose -f /srv/novel/docker-compose.yml restart backend
    health:
      url: http://127.0.0.1:3800/api/health
      via: host
      expect_status: 200
      expect_body: '"status":"ok"'
      timeout: 60s
      interval: 2s
)");
  write("environments/dev.yaml", k_dev);
  auto p = config::load_project(m_root);
  const auto& s = p.environment("staging");
  EXPECT_EQ(s.description, "Staging stack on stage-1");
  EXPECT_EQ(s.requires_envs, std::vector<std::string>{"dev"});
  EXPECT_EQ(s.connections.at("host").ssh.user, "deploy");
  EXPECT_EQ(s.connections.at("app").docker.workdir, "/app");
  EXPECT_EQ(*s.database.password, "s3cret-value");
  EXPECT_EQ(s.database.tools, "pg");
  EXPECT_EQ(s.backup->keep, 7);
  EXPECT_EQ(s.services.at("backend").health->timeout, Millis(60000));
  EXPECT_EQ(s.services.at("backend").health->interval, Millis(2000));
  EXPECT_EQ(p.secrets.redact("password is s3cret-value!"), "password is ***!");
}

TEST_F(ConfigTest, FullPlaybookFromSpecIsAccepted) {
  write("environments/dev.yaml", std::string(k_dev) +
                                     "connections:\n  host:\n    type: local\nservices:\n  backend:\n    restart: "
                                     "true\n    health:\n      url: http://x\nbackup:\n  dir: b\n");
  write("playbooks/promote.yaml", R"(
description: Promote pending migrations
migrations: migrations
stages: [dev]
steps:
  - backup
  - migrate:
      transaction: all
      lock_timeout: 5s
  - verify:
      columns:
        - tasks.due_date: timestamp with time zone
        - tasks.priority_id
      absent_columns: [tasks.priority]
      row_counts: all
      sql:
        - SELECT count(*) = 0 FROM tasks WHERE title IS NULL
  - restart: backend
  - health: backend
  - run: {on: host, command: ./notify.sh, timeout: 30s}
  - sql: ANALYZE tasks
on_failure: rollback
rollback: auto
)");
  auto p = config::load_project(m_root);
  auto pb = config::load_playbook(p, "promote");
  ASSERT_EQ(pb.steps.size(), 7u);
  EXPECT_EQ(pb.steps[1].lock_timeout, Millis(5000));
  EXPECT_EQ(pb.steps[2].columns[0].type, "timestamp with time zone");
  EXPECT_EQ(pb.steps[2].columns[1].column, "priority_id");
  EXPECT_EQ(pb.steps[2].absent_columns[0].table, "tasks");
  EXPECT_TRUE(pb.steps[2].row_counts_all);
  EXPECT_EQ(pb.steps[5].command, "./notify.sh");
  EXPECT_EQ(*pb.steps[5].timeout, Millis(30000));
  EXPECT_EQ(pb.steps[6].sql, "ANALYZE tasks");
}

TEST_F(ConfigTest, UnknownKeySuggestsTheNearestName) {
  write("environments/prod.yaml", "database:\n  name: app\n  pasword: x\n");
  EXPECT_EQ(error_of_project(),
            "environments/prod.yaml:3:3: unknown key 'pasword' in database (did you mean 'password'?)");
}

TEST_F(ConfigTest, UnknownStepSuggestsTheNearestStep) {
  write("environments/dev.yaml", k_dev);
  write("playbooks/p.yaml", "stages: [dev]\nsteps:\n  - backup\n  - migarte\n");
  // Every error is reported, in the file's order (the backup step lacks a backup: section too).
  EXPECT_EQ(error_of_playbook("p"),
            "playbooks/p.yaml:3:5: a backup step needs a 'backup:' section in environments/dev.yaml\n"
            "playbooks/p.yaml:4:5: unknown step 'migarte' (did you mean 'migrate'?)");
}

TEST_F(ConfigTest, WrongTypeNamesWhatWasExpected) {
  write("environments/dev.yaml", "protected: maybe\ndatabase:\n  name: app\n");
  EXPECT_EQ(error_of_project(), "environments/dev.yaml:1:12: 'protected' must be true or false, found 'maybe'");
  write("environments/dev.yaml", "database:\n  name: app\n  port: fifty\n");
  EXPECT_EQ(error_of_project(), "environments/dev.yaml:3:9: 'port' must be an integer from 1 to 65535, found 'fifty'");
}

TEST_F(ConfigTest, MissingRequiredKey) {
  write("environments/dev.yaml", "description: no database here\n");
  EXPECT_EQ(error_of_project(), "environments/dev.yaml:1:1: the environment: missing required key 'database'");
  write("environments/dev.yaml", "database:\n  user: app\n");
  EXPECT_EQ(error_of_project(), "environments/dev.yaml:2:3: database: missing required key 'name'");
}

TEST_F(ConfigTest, DanglingConnectionName) {
  write("environments/dev.yaml",
        "connections:\n  host:\n    type: local\n  pg:\n    type: docker\n    container: db\n    via: hots\n"
        "database:\n  name: app\n");
  EXPECT_EQ(
      error_of_project(),
      "environments/dev.yaml:7:10: 'via' names no connection 'hots' (did you mean 'host'?); known: host, local, pg");
  write("environments/dev.yaml", "database:\n  name: app\n  tools: pg\n");
  EXPECT_EQ(error_of_project(), "environments/dev.yaml:3:10: 'tools' names no connection 'pg'; known: local");
}

TEST_F(ConfigTest, UnsetVariable) {
  unsetenv("FERRY_SURELY_UNSET");
  write("environments/dev.yaml", "database:\n  name: app\n  password: ${FERRY_SURELY_UNSET}\n");
  EXPECT_EQ(error_of_project(),
            "environments/dev.yaml:3:13: environment variable 'FERRY_SURELY_UNSET' is not set (used as "
            "${FERRY_SURELY_UNSET})");
}

TEST_F(ConfigTest, BadDuration) {
  write("environments/dev.yaml",
        "database:\n  name: app\nservices:\n  web:\n    health:\n      url: http://x\n      timeout: 10 seconds\n");
  EXPECT_EQ(error_of_project(),
            "environments/dev.yaml:7:16: 'timeout' must be a duration like 500ms, 30s, 5m or 1h, found '10 seconds'");
}

// PostgreSQL reads lock_timeout 0 as "wait forever": a restore must always give up in the end.
TEST_F(ConfigTest, RestoreLockTimeoutUnderOneSecondIsRefused) {
  write("environments/dev.yaml", "database:\n  name: app\nbackup:\n  dir: b\n  restore_lock_timeout: 0s\n");
  EXPECT_EQ(error_of_project(), "environments/dev.yaml:5:25: 'restore_lock_timeout' must be at least 1s");
  write("environments/dev.yaml", "database:\n  name: app\nbackup:\n  dir: b\n  restore_lock_timeout: 2m\n");
  auto p = config::load_project(m_root);
  EXPECT_EQ(p.environments.at("dev").backup->restore_lock_timeout, Millis(120'000));
  write("environments/dev.yaml", "database:\n  name: app\nbackup:\n  dir: b\n");
  EXPECT_EQ(config::load_project(m_root).environments.at("dev").backup->restore_lock_timeout, Millis(60'000));
}

TEST_F(ConfigTest, YamlSyntaxErrorHasAPosition) {
  write("environments/dev.yaml", "database:\n  name: [app\n");
  std::string e = error_of_project();
  EXPECT_EQ(e.rfind("environments/dev.yaml:", 0), 0u) << e;
}

TEST_F(ConfigTest, PlaybookStageMustNameAnEnvironment) {
  write("environments/dev.yaml", k_dev);
  write("environments/staging.yaml", k_dev);
  write("playbooks/p.yaml", "stages: [dev, stagng]\nsteps: [migrate]\n");
  EXPECT_EQ(error_of_playbook("p"),
            "playbooks/p.yaml:1:15: stage 'stagng' names no environment (did you mean 'staging'?)");
}

TEST_F(ConfigTest, RestartNeedsAServiceOfEveryStage) {
  write("environments/dev.yaml", k_dev);
  write("playbooks/p.yaml", "stages: [dev]\nsteps:\n  - migrate\n  - restart: backend\n");
  EXPECT_EQ(error_of_playbook("p"), "playbooks/p.yaml:4:5: service 'backend' is not defined in environments/dev.yaml");
}

TEST_F(ConfigTest, BadEnumValue) {
  write("environments/dev.yaml", k_dev);
  write("playbooks/p.yaml", "stages: [dev]\nsteps:\n  - migrate: {transaction: some}\n");
  EXPECT_EQ(error_of_playbook("p"), "playbooks/p.yaml:3:28: 'transaction' must be 'all' or 'each', found 'some'");
}

TEST_F(ConfigTest, PasswordFileIsReadAndSecret) {
  write("pw.txt", "from-a-file\n");
  write("environments/dev.yaml", "database:\n  name: app\n  password_file: pw.txt\n");
  auto p = config::load_project(m_root);
  EXPECT_EQ(*p.environment("dev").database.password, "from-a-file");
  EXPECT_EQ(p.secrets.redact("x from-a-file y"), "x *** y");
}

TEST_F(ConfigTest, UnknownEnvironmentSuggests) {
  write("environments/production.yaml", k_dev);
  auto p = config::load_project(m_root);
  try {
    p.environment("prodution");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "unknown environment 'prodution' (did you mean 'production'?)");
  }
}
