// Hostile configuration and environment values, through the real ferry binary: ${VAR} values
// that try to break out of shell text, secrets that must reach no argv and no output, health
// URLs that are not http, private journals, YAML that multiplies or repeats, paths that are
// not what they seem.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "core/text.hpp"
#include "steps/health.hpp"
#include "support/fixtures.hpp"

namespace fs = std::filesystem;
using namespace ferry::test;

namespace {

using ferry::read_file;

// Every process's argv that contains `needle`, one line each (empty when none does).
std::string argv_holding(const std::string& needle) {
  std::string found;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    std::string name = e.path().filename().string();
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
    std::string args;
    try {  // a process may exit while it is read
      std::ifstream in(e.path() / "cmdline", std::ios::binary);
      args.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    } catch (const std::exception&) {
      continue;
    }
    for (char& c : args)
      if (c == '\0') c = ' ';
    if (contains(args, needle)) found += "[" + name + "] " + args + "\n";
  }
  return found;
}

int mode_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return -1;
  return static_cast<int>(st.st_mode & 07777);
}

class HostileInput : public ::testing::Test {
 protected:
  static PgCluster& pg() {
    static PgCluster cluster;
    return cluster;
  }
  void SetUp() override {
    pg().create_db("app");
    project.env("dev", pg(), "app");
  }
  void playbook(const std::string& steps) { project.write("playbooks/p.yaml", "stages: [dev]\nsteps:\n" + steps); }
  bool ferry_schema_exists() { return pg().value("app", "SELECT to_regnamespace('ferry') IS NOT NULL") == "t"; }
  std::string journals() {
    std::string all;
    for (const auto& e : fs::recursive_directory_iterator(project.path(".ferry")))
      if (e.is_regular_file()) all += read_file(e.path().string());
    return all;
  }
  Project project;
};

// Item 14: a value with quotes cannot break out of the command's shell text.
TEST_F(HostileInput, CommandVariablesAreNotSplicedIntoShellText) {
  std::string pwned = project.path("pwned");
  std::string v = "x\"; touch " + pwned + "; echo \"$(touch " + pwned + ")'`touch " + pwned + "`";
  project.env("dev", pg(), "app", "services:\n  backend:\n    restart: 'printf %s \"${V}\" > restarted.txt'\n");
  playbook("  - run: 'printf %s \"${V}\" > ran.txt'\n  - restart: backend\n");
  auto r = project.ferry({"run", "p"}, {{"V", v}});
  ASSERT_EQ(r.code, 0) << r.all();
  EXPECT_FALSE(fs::exists(pwned));
  EXPECT_EQ(project.read("ran.txt"), v);
  EXPECT_EQ(project.read("restarted.txt"), v);
}

// Item 14: a secret (here the database password) used in a command is in no process's argv
// while the command runs: locally, over ssh (it travels on the channel's stdin), in docker
// (`-e NAME`), and in docker over ssh.
TEST_F(HostileInput, SecretsInCommandsReachNoArgv) {
  SshServer sshd;
  Container box;
  std::string shared = temp_dir("ferry-hostile-shared");
  fs::permissions(shared, fs::perms::all);
  // No '"' here (CommandVariablesAreNotSplicedIntoShellText has those): pasted into shell
  // text the way ferry used to, this value runs, and lands in argv.
  std::string secret = "tok-Zq9x7 '$(touch " + shared + "/pwned)";
  std::vector<std::string> on = {"local"};
  std::string conns;
  if (sshd.ok()) {
    on.push_back("host");
    conns += sshd.connection_yaml("host");
  }
  if (box.ok()) {
    on.push_back("box");
    conns += "  box:\n    type: docker\n    container: " + box.name() + "\n    engine: " + Container::engine() + "\n";
  }
  if (box.ok() && sshd.ok()) {
    on.push_back("boxssh");
    conns += sshd.connection_yaml("hostroot", "", "ferryroot") +
             "  boxssh:\n    type: docker\n    container: " + box.name() +
             "\n    via: hostroot\n    engine: " + Container::engine() + "\n";
  }
  project.env("dev", pg(), "app", "  password: ${TOK}\n" + (conns.empty() ? "" : "connections:\n" + conns));
  for (const auto& conn : on) {
    fs::remove(shared + "/done");
    playbook("  - run:\n      on: " + conn + "\n      command: 'printf %s \"${TOK}\" > " + shared +
             "/got; sleep 1.5; touch " + shared + "/done'\n");
    Background ferry({ferry_binary(), "-C", project.root(), "run", "p"}, {{"TOK", secret}});
    std::set<std::string> leaked;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (!fs::exists(shared + "/done") && std::chrono::steady_clock::now() < deadline) {
      if (auto found = argv_holding("tok-Zq9x7"); !found.empty()) leaked.insert(found);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    auto r = ferry.wait();
    EXPECT_EQ(r.code, 0) << conn << ": " << r.all();
    EXPECT_TRUE(leaked.empty()) << conn << ": " << *leaked.begin();
    EXPECT_EQ(read_file(shared + "/got"), secret) << conn;
    EXPECT_FALSE(contains(r.all() + journals(), "tok-Zq9x7")) << conn << ": " << r.all();
  }
  EXPECT_FALSE(fs::exists(shared + "/pwned"));
  fs::remove_all(shared);
}

// Item 15: plan shows plain ${VAR} values and hides ${secret:VAR} ones; so do run's outputs.
TEST_F(HostileInput, PlanShowsPlainVariablesAndHidesSecretOnes) {
  playbook("  - sql: SELECT '${GREETING}' <> '${secret:TOKEN}'\n");
  std::map<std::string, std::string> env = {{"GREETING", "hello-visible-value"}, {"TOKEN", "hidden-token-value"}};
  auto plan = project.ferry({"plan", "p"}, env);
  ASSERT_EQ(plan.code, 0) << plan.all();
  EXPECT_TRUE(contains(plan.out, "sql SELECT 'hello-visible-value' <> '***'")) << plan.out;
  EXPECT_FALSE(contains(plan.all(), "hidden-token-value")) << plan.all();
  auto run = project.ferry({"run", "p", "--report", project.path("report.json")}, env);
  ASSERT_EQ(run.code, 0) << run.all();
  std::string everything = run.all() + journals() + project.read("report.json");
  EXPECT_TRUE(contains(everything, "hello-visible-value")) << everything;
  EXPECT_FALSE(contains(everything, "hidden-token-value")) << everything;
}

// Item 15: a configuration error quotes a secret as written, never its value.
TEST_F(HostileInput, ConfigErrorsQuoteTheVariableNotItsValue) {
  project.write("environments/dev.yaml", "database:\n  name: app\n  password: ${PW}\n  sslmode: ${PW}\n");
  auto r = project.ferry({"validate"}, {{"PW", "S3cret-pw-value"}});
  EXPECT_EQ(r.code, 64) << r.all();
  EXPECT_TRUE(contains(r.err, "environments/dev.yaml:4:12: 'sslmode' must be")) << r.err;
  EXPECT_TRUE(contains(r.err, "found '${PW}'")) << r.err;
  EXPECT_FALSE(contains(r.all(), "S3cret")) << r.all();

  project.env("dev", pg(), "app");
  project.write("playbooks/p.yaml", "stages: [dev, '${secret:STAGE}']\nsteps:\n  - migrate\n");
  auto pb = project.ferry({"validate"}, {{"STAGE", "stage-secret-value"}});
  EXPECT_EQ(pb.code, 64) << pb.all();
  EXPECT_TRUE(contains(pb.err, "playbooks/p.yaml:1:15: stage '${secret:STAGE}' names no environment")) << pb.err;
  EXPECT_FALSE(contains(pb.all(), "stage-secret-value")) << pb.all();
}

// Item 15: every line of a multi-line secret (the password) is redacted, even when only one
// line is shown.
TEST_F(HostileInput, MultiLineSecretIsRedactedLineByLine) {
  project.env("dev", pg(), "app", "  password: ${KEY}\n");
  playbook("  - run: 'printf \"%s\\n\" \"${KEY}\"; exit 3'\n");
  auto r = project.ferry({"run", "p"}, {{"KEY", "first-line-aaaa\nsecond-line-bbbb"}});
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(contains(r.out, "exited with 3 on local: ***")) << r.out;
  EXPECT_FALSE(contains(r.all() + journals(), "line-bbbb")) << r.all();
  EXPECT_FALSE(contains(r.all() + journals(), "line-aaaa")) << r.all();
}

// Item 16: a health URL must be http or https, at load and in libcurl itself.
TEST_F(HostileInput, HealthUrlMustBeHttp) {
  for (std::string url : {"file:///etc/passwd", "FILE:///etc/passwd", "ftp://127.0.0.1/x", "dict://127.0.0.1/"}) {
    project.env("dev", pg(), "app", "services:\n  backend:\n    health:\n      url: " + url + "\n");
    playbook("  - health: backend\n");
    for (const char* cmd : {"validate", "run"}) {
      auto r = cmd == std::string("run") ? project.ferry({"run", "p"}) : project.ferry({"validate"});
      EXPECT_EQ(r.code, 64) << url << ": " << r.all();
      EXPECT_TRUE(contains(r.err, "environments/dev.yaml:10:12: 'url' must be an http:// or https:// address"))
          << r.err;
      EXPECT_FALSE(contains(r.all(), "root:x:0")) << r.all();
    }
  }
  EXPECT_FALSE(ferry_schema_exists());
  ferry::config::HealthSpec spec;
  spec.url = "file:///etc/passwd";
  spec.timeout = ferry::Millis(200);
  spec.interval = ferry::Millis(100);
  auto res = ferry::steps::probe_health(spec, nullptr, nullptr, "");
  EXPECT_FALSE(res.ok);
  EXPECT_FALSE(contains(res.last, "root:")) << res.last;
}

// Item 17: the state directory is private to the operator, and so are journals and reports.
TEST_F(HostileInput, JournalsAndReportsArePrivate) {
  // A .ferry/ an older ferry left world-readable is tightened too.
  fs::create_directories(project.path(".ferry/runs"));
  project.write(".ferry/runs/old.jsonl", "{}\n");
  fs::permissions(project.path(".ferry"), fs::perms(0755));
  fs::permissions(project.path(".ferry/runs"), fs::perms(0755));
  fs::permissions(project.path(".ferry/runs/old.jsonl"), fs::perms(0644));
  playbook("  - sql: SELECT true\n");
  auto r = project.ferry({"run", "p", "--report", project.path("report.json")});
  ASSERT_EQ(r.code, 0) << r.all();
  EXPECT_EQ(mode_of(project.path(".ferry")), 0700);
  EXPECT_EQ(mode_of(project.path(".ferry/runs")), 0700);
  int journals_seen = 0;
  for (const auto& e : fs::directory_iterator(project.path(".ferry/runs"))) {
    EXPECT_EQ(mode_of(e.path().string()), 0600) << e.path();
    ++journals_seen;
  }
  EXPECT_EQ(journals_seen, 2);
  EXPECT_EQ(mode_of(project.path("report.json")), 0600);
  // A fresh state directory of the user's choosing is created private.
  std::string state = project.path("elsewhere/state");
  ASSERT_EQ(project.ferry({"--state-dir", state, "run", "p"}).code, 0);
  EXPECT_EQ(mode_of(state), 0700);
  EXPECT_EQ(mode_of(state + "/runs"), 0700);
}

// Item 19: aliases that multiply a large value are refused at once, not expanded.
TEST_F(HostileInput, AliasBombIsRefusedFast) {
  std::string pb = "description: &big '" + std::string(200'000, 'x') + "'\nstages: [dev]\nsteps:\n  - migrate\n";
  pb += "x: [";
  for (int i = 0; i < 20'000; ++i) pb += (i ? ", *big" : "*big");
  pb += "]\n";
  project.write("playbooks/p.yaml", pb);
  auto t0 = std::chrono::steady_clock::now();
  auto r = project.ferry({"validate"});
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(r.code, 64) << r.all();
  EXPECT_TRUE(contains(r.err, "ferry: error: playbooks/p.yaml:5:4: more than 16 MB of text")) << r.err.substr(0, 300);
  EXPECT_TRUE(contains(r.err, "once YAML aliases are expanded; refused")) << r.err.substr(0, 300);
  EXPECT_LT(r.err.size(), 400u);
  EXPECT_LT(took, std::chrono::seconds(5));
}

// Item 21b: duplicate keys and a second document are refused with their place.
TEST_F(HostileInput, DuplicateKeysAndSecondDocumentsAreRefused) {
  project.write("environments/dev.yaml",
                "database:\n  name: app\n  port: 1\n  port: " + std::to_string(pg().port()) + "\n");
  auto dup = project.ferry({"validate"});
  EXPECT_EQ(dup.code, 64);
  EXPECT_EQ(dup.err, "ferry: error: environments/dev.yaml:4:3: duplicate key 'port' (first at line 3)\n");
  project.env("dev", pg(), "app");
  project.write("playbooks/p.yaml", "stages: [dev]\nsteps: [migrate]\n---\nstages: [prod]\n");
  auto two = project.ferry({"validate"});
  EXPECT_EQ(two.code, 64);
  EXPECT_EQ(two.err,
            "ferry: error: playbooks/p.yaml:4:1: a second YAML document; a configuration file holds exactly one\n");
  project.write("playbooks/p.yaml", "---\nstages: [dev]\nsteps: [migrate]\n---\n# nothing more\n");
  auto empty = project.ferry({"validate"});
  EXPECT_EQ(empty.code, 64);
  EXPECT_EQ(empty.err,
            "ferry: error: playbooks/p.yaml:4:1: a second YAML document; a configuration file holds exactly one\n");
}

// Item 21b: files and directories that cannot be used are configuration errors naming them.
TEST_F(HostileInput, UnusablePathsAreConfigErrorsNamingThem) {
  playbook("  - sql: SELECT true\n");
  fs::create_symlink("loop.yaml", project.path("environments/loop.yaml"));
  auto loop = project.ferry({"validate"});
  EXPECT_EQ(loop.code, 64) << loop.all();
  EXPECT_TRUE(contains(loop.err, "cannot read 'environments/loop.yaml'")) << loop.err;
  fs::remove(project.path("environments/loop.yaml"));

  project.write("not-a-dir", "x");
  auto state = project.ferry({"--state-dir", project.path("not-a-dir/state"), "run", "p"});
  EXPECT_EQ(state.code, 64) << state.all();
  EXPECT_TRUE(contains(state.err, "cannot write the state directory '" + project.path("not-a-dir"))) << state.err;
  auto report = project.ferry({"run", "p", "--report", project.path("no/such/dir/report.json")});
  EXPECT_EQ(report.code, 64) << report.all();
  EXPECT_TRUE(contains(report.err, "cannot write the report file '" + project.path("no/such/dir/report.json")))
      << report.err;
  EXPECT_FALSE(ferry_schema_exists());  // nothing ran
}

// Item 21b: a playbook path outside the project is refused without quoting the file.
TEST_F(HostileInput, PlaybookOutsideTheProjectIsRefused) {
  for (const char* cmd : {"run", "plan"}) {
    auto r = project.ferry({cmd, "/etc/passwd"});
    EXPECT_EQ(r.code, 64) << r.all();
    EXPECT_EQ(r.err,
              "ferry: error: playbook '/etc/passwd' is outside the project directory; refused\n"
              "hint: playbooks are files under playbooks/ of the project (-C DIR)\n");
  }
  // Inside the project, a path works.
  playbook("  - sql: SELECT true\n");
  EXPECT_EQ(project.ferry({"plan", project.path("playbooks/p.yaml")}).code, 0);
}

// Item 21b: an empty database name or host is refused.
TEST_F(HostileInput, EmptyDatabaseNameOrHostIsRefused) {
  project.write("environments/dev.yaml", "database:\n  name: ''\n");
  auto name = project.ferry({"validate"});
  EXPECT_EQ(name.code, 64);
  EXPECT_EQ(name.err, "ferry: error: environments/dev.yaml:2:9: 'name' must not be empty\n");
  project.write("environments/dev.yaml", "database:\n  name: app\n  host: \"  \"\n");
  auto host = project.ferry({"validate"});
  EXPECT_EQ(host.code, 64);
  EXPECT_EQ(host.err, "ferry: error: environments/dev.yaml:3:9: 'host' must not be empty\n");
}

// Item 21b: a failing command inside a pipeline fails the run step (bash, pipefail).
TEST_F(HostileInput, FailedPipelineFailsTheRunStep) {
  playbook("  - run: 'false | cat > out.txt'\n");
  auto r = project.ferry({"run", "p"});
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(contains(r.out, "exited with 1 on local")) << r.out;
}

}  // namespace
