// examples/compose: the `migrate` service (ferry's image, the example project, the command
// written in compose.yaml) against a real PostgreSQL in a real podman pod. podman-compose is not
// installed here, so the test does what compose does: start the pod's services, run migrate,
// and start the backend only when migrate exited 0 (depends_on: service_completed_successfully).
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "support/fixtures.hpp"
#include "support/packaging.hpp"

using namespace ferry::test;
namespace pk = ferry::test::packaging;
namespace fs = std::filesystem;

namespace {
const std::string k_example = source_dir() + "/examples/compose";

// One key path of compose.yaml, printed by Python's YAML parser (one list item a line).
std::string compose_value(const std::string& expr) {
  return pk::run({"python3", "-c",
                  "import sys, yaml; v = eval(sys.argv[2], {'c': yaml.safe_load(open(sys.argv[1]))}); "
                  "print('\\n'.join(v) if isinstance(v, list) else v)",
                  k_example + "/compose.yaml", expr})
      .out;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

class ComposeStack {
 public:
  ComposeStack() : m_pod("ferry-compose-" + std::to_string(getpid()) + "-" + std::to_string(free_port())) {
    m_dir = temp_dir("ferry-compose");
    fs::copy(k_example + "/project", m_dir + "/project", fs::copy_options::recursive);
    std::ofstream(m_dir + "/db_password") << "unused-trust-auth\n";
    must({"chown", "postgres:postgres", m_dir});
    must({"runuser", "-u", "postgres", "--", "/usr/lib/postgresql/15/bin/initdb", "-D", m_dir + "/data", "-U",
          "postgres", "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"});
    must({"podman", "pod", "create", "--name", m_pod, "--add-host", "db:127.0.0.1"});
    must({"podman", "volume", "create", m_pod + "-ferry"});
    must({"podman",
          "run",
          "-d",
          "--init",
          "--pod",
          m_pod,
          "--name",
          m_pod + "-db",
          "--user",
          "postgres",
          "-v",
          "/usr:/usr:ro",
          "-v",
          "/etc:/etc:ro",
          "-v",
          m_dir + ":" + m_dir,
          "localhost/hostusr:1",
          "/usr/lib/postgresql/15/bin/postgres",
          "-D",
          m_dir + "/data",
          "-p",
          "5432",
          "-k",
          "/tmp",
          "-c",
          "listen_addresses=127.0.0.1",
          "-c",
          "fsync=off"});
    wait_db();
    must({"podman", "exec", m_pod + "-db", "createdb", "-h", "127.0.0.1", "-U", "postgres", "app"});
  }
  ~ComposeStack() {
    pk::run({"podman", "pod", "rm", "-f", "-t", "0", m_pod});
    pk::run({"podman", "volume", "rm", "-f", m_pod + "-ferry"});
    fs::remove_all(m_dir);
  }
  void stop_db() { must({"podman", "stop", "-t", "5", m_pod + "-db"}); }
  void start_db() { must({"podman", "start", m_pod + "-db"}); }
  std::string psql(const std::string& sql) {
    return pk::run(
               {"podman", "exec", m_pod + "-db", "psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "app", "-tAc", sql})
        .out;
  }
  std::string project(const std::string& rel) const { return m_dir + "/project/" + rel; }
  // The migrate service exactly as compose.yaml runs it.
  std::vector<std::string> migrate_argv(const std::string& image) const {
    std::vector<std::string> argv = {"/usr/bin/podman",
                                     "run",
                                     "--rm",
                                     "--pod",
                                     m_pod,
                                     "--name",
                                     m_pod + "-migrate",
                                     "-v",
                                     m_dir + "/project:/project:ro",
                                     "-v",
                                     m_pod + "-ferry:/var/lib/ferry",
                                     "-v",
                                     m_dir + "/db_password:/run/secrets/db_password:ro",
                                     image};
    for (const auto& a : lines(compose_value("c['services']['migrate']['command']"))) argv.push_back(a);
    return argv;
  }
  // `compose up`: migrate, then the backend only when migrate completed successfully.
  Proc up(const std::string& image) {
    auto migrate = pk::run(migrate_argv(image), {}, 300);
    if (migrate.code == 0)
      must({"podman", "run", "-d", "--init", "--pod", m_pod, "--name", m_pod + "-backend", "localhost/hostusr:1",
            "sleep", "infinity"});
    return migrate;
  }
  bool backend_started() { return pk::run({"podman", "container", "exists", m_pod + "-backend"}).code == 0; }

 private:
  void wait_db() {
    for (int i = 0; i < 200; ++i) {
      if (pk::run({"podman", "exec", m_pod + "-db", "pg_isready", "-q", "-h", "127.0.0.1"}).code == 0) return;
      usleep(100000);
    }
    FAIL() << "postgres did not start in " << m_pod;
  }
  static void must(const std::vector<std::string>& argv) {
    auto p = pk::run(argv, {}, 120);
    if (p.code != 0) throw std::runtime_error(argv[0] + " " + argv[1] + " failed: " + p.all());
  }
  std::string m_pod, m_dir;
};

class Compose : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!pk::podman_usable() || !pk::hostusr_image()) GTEST_SKIP() << "podman (as root) is needed";
    std::string log;
    image = pk::ferry_image(&log);
    if (image.empty() && !pk::debian_mirror_reachable())
      GTEST_SKIP() << "the Debian mirror is unreachable: no image to build";
    ASSERT_FALSE(image.empty()) << log;
  }
  std::string image;
};
}  // namespace

TEST_F(Compose, TheExampleWaitsForTheDatabaseAndGatesTheBackend) {
  EXPECT_EQ(compose_value("c['services']['backend']['depends_on']['migrate']['condition']"),
            "service_completed_successfully\n");
  auto command = compose_value("c['services']['migrate']['command']");
  EXPECT_TRUE(contains(command, "--wait-ready\n")) << command;
  // ferry validate in the image, with the project and the secret mounted as compose mounts them.
  std::string dir = temp_dir("ferry-compose-validate");
  std::ofstream(dir + "/db_password") << "x\n";
  auto validate = pk::run({"podman", "run", "--rm", "-v", k_example + "/project:/project:ro", "-v",
                           dir + "/db_password:/run/secrets/db_password:ro", image, "validate"},
                          {}, 120);
  EXPECT_EQ(validate.code, 0) << validate.all();
  fs::remove_all(dir);
}

TEST_F(Compose, MigrateWaitsForADatabaseStartedAfterItThenTheBackendStarts) {
  ComposeStack stack;
  stack.stop_db();
  Background migrate(stack.migrate_argv(image));
  // ferry is up and retrying before the database is: its output says so (not a fixed sleep,
  // which a loaded machine outlasts before the container has even started)
  ASSERT_TRUE(migrate.wait_for_output("database not ready", std::chrono::seconds(180)));
  stack.start_db();
  auto r = migrate.wait();
  ASSERT_EQ(r.code, 0) << r.all();
  EXPECT_TRUE(contains(r.all(), "database not ready")) << r.all();
  EXPECT_TRUE(contains(r.all(), "database ready after")) << r.all();
  EXPECT_EQ(stack.psql("SELECT count(*) FROM information_schema.columns WHERE table_name = 'items'"), "2\n");
}

TEST_F(Compose, NothingPendingExitsZeroAndTheBackendStarts) {
  ComposeStack stack;
  auto first = stack.up(image);
  ASSERT_EQ(first.code, 0) << first.all();
  auto applied = stack.psql("SELECT count(*) FROM ferry.migrations");
  auto again = pk::run(stack.migrate_argv(image), {}, 300);
  EXPECT_EQ(again.code, 0) << again.all();
  EXPECT_EQ(stack.psql("SELECT count(*) FROM ferry.migrations"), applied);
  EXPECT_TRUE(stack.backend_started());
}

TEST_F(Compose, AFailingRevisionExitsNonZeroLeavesTheDatabaseAndKeepsTheBackendDown) {
  ComposeStack stack;
  fs::create_directories(stack.project("migrations/0002_add_price"));
  std::ofstream(stack.project("migrations/0002_add_price/up.sql"))
      << "ALTER TABLE items ADD COLUMN price int;\nINSERT INTO no_such_table VALUES (1);\n";
  std::ofstream(stack.project("migrations/0002_add_price/down.sql")) << "ALTER TABLE items DROP COLUMN price;\n";
  auto r = stack.up(image);
  EXPECT_NE(r.code, 0) << r.all();
  EXPECT_EQ(r.code, 1) << "a failed migration rolled back is exit 1: " << r.all();
  EXPECT_EQ(stack.psql("SELECT count(*) FROM information_schema.columns WHERE table_name = 'items'"), "0\n")
      << "the whole run (0001 and 0002) is one transaction: nothing stays";
  EXPECT_FALSE(stack.backend_started());
}
