// ferry installed like a real tool: `--version` from CMake, the man page and completions built
// from the binary itself, and the .deb installed into a fresh Debian 12 root (debootstrap,
// podman) where `ferry --version`, `ferry validate` and a real backup run.
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>

#include "support/fixtures.hpp"
#include "support/packaging.hpp"

using namespace ferry::test;
namespace pk = ferry::test::packaging;
namespace fs = std::filesystem;

TEST(Package, VersionNamesVersionCommitAndBuildDate) {
  auto p = pk::run({ferry_binary(), "--version"});
  ASSERT_EQ(p.code, 0) << p.all();
  std::smatch m;
  ASSERT_TRUE(std::regex_match(
      p.out, m, std::regex(R"re(ferry (\d+\.\d+\.\d+) \(git ([0-9a-f]{4,}|unknown), built (\d{4}-\d\d-\d\d)\)\n)re")))
      << p.out;
  EXPECT_EQ(m[1].str(), FERRY_PROJECT_VERSION);
  if (m[2].str() != "unknown") {  // a commit of this repository (HEAD at build time)
    auto c = pk::run({"git", "-C", source_dir(), "cat-file", "-e", m[2].str() + "^{commit}"});
    EXPECT_EQ(c.code, 0) << m[2].str() << " is not a commit here: " << c.all();
  }
}

TEST(Package, VersionSaysUnknownCommitOutsideGit) {
  std::string dir = temp_dir("ferry-nogit");
  auto p = pk::run({"cmake", "-DSOURCE_DIR=" + dir, "-DVERSION=9.8.7", "-DOUT=" + dir + "/v.hpp", "-P",
                    source_dir() + "/cmake/ferry_version.cmake"});
  ASSERT_EQ(p.code, 0) << p.all();
  std::string header = pk::run({"cat", dir + "/v.hpp"}).out;
  EXPECT_TRUE(std::regex_search(header, std::regex(R"re("ferry 9\.8\.7 \(git unknown, built \d{4}-\d\d-\d\d\)")re")))
      << header;
  fs::remove_all(dir);
}

TEST(Package, ManPageCarriesEveryCommandAndTheExitCodes) {
  std::string page = pk::build_dir() + "/ferry.1";
  if (!fs::exists(page)) GTEST_SKIP() << "no man page built: help2man is missing (scripts/install-deps.sh installs it)";
  auto p = pk::run({"man", "-l", "-P", "cat", page}, {{"MANWIDTH", "120"}});
  ASSERT_EQ(p.code, 0) << p.all();
  auto help = pk::run({ferry_binary(), "--help"}).out;
  for (const std::string cmd :
       {"validate", "plan", "run", "status", "history", "backup", "backups", "rollback", "new", "lint", "schedule"}) {
    EXPECT_TRUE(contains(help, "  " + cmd)) << cmd << " not in --help";
    EXPECT_TRUE(contains(p.out, "ferry " + cmd + "\n")) << "no section for " << cmd;
  }
  EXPECT_TRUE(contains(p.out, "ferry backup verify")) << p.out;
  EXPECT_TRUE(contains(p.out, "--wait-ready")) << p.out;
  EXPECT_TRUE(contains(p.out, "EXIT STATUS")) << p.out;
  EXPECT_TRUE(contains(p.out, "refused before changing anything")) << p.out;
}

namespace {
// A project with environments dev and staging, playbook promote, and one real backup of dev.
struct CompletionProject {
  PgCluster pg;
  Project project;
  std::string backup_id;
  CompletionProject() {
    pg.create_db("app");
    project.env("dev", pg, "app", "backup:\n  dir: " + project.path("backups") + "\n");
    project.env("staging", pg, "app");
    project.write("playbooks/promote.yaml", "stages: [dev, staging]\n");
    project.migration("0001_t", "CREATE TABLE t (id int);\n");
    auto b = project.ferry({"backup", "dev"});
    EXPECT_EQ(b.code, 0) << b.all();
    auto list = project.ferry({"backups", "dev", "--json"});
    std::smatch m;
    if (std::regex_search(list.out, m, std::regex(R"re("id": "([^"]+)")re"))) backup_id = m[1];
  }
  // COMPREPLY of the bash completion for the words typed (the last one is being completed).
  std::string bash(std::vector<std::string> words) const {
    std::vector<std::string> argv = {"bash",
                                     "-c",
                                     "source \"$1\"; shift; COMP_WORDS=(\"$@\"); COMP_CWORD=$(($# - 1)); _ferry; "
                                     "printf '%s\\n' \"${COMPREPLY[@]}\"",
                                     "_",
                                     pk::build_dir() + "/completions/ferry",
                                     "ferry",
                                     "-C",
                                     project.root()};
    argv.insert(argv.end(), words.begin(), words.end());
    return pk::run(argv, path_env()).out;
  }
  static std::map<std::string, std::string> path_env() {
    return {{"PATH", pk::build_dir() + ":" + std::string(getenv("PATH"))}};
  }
};
}  // namespace

TEST(Package, BashCompletionOffersCommandsEnvironmentsPlaybooksAndBackupIds) {
  CompletionProject c;
  ASSERT_FALSE(c.backup_id.empty());
  auto commands = c.bash({""});
  for (const std::string cmd : {"validate\n", "run\n", "backup\n", "rollback\n", "lint\n"})
    EXPECT_TRUE(contains(commands, cmd)) << commands;
  EXPECT_EQ(c.bash({"ro"}), "rollback\n");
  EXPECT_EQ(c.bash({"run", ""}), "promote\n");
  EXPECT_EQ(c.bash({"history", ""}), "dev\nstaging\n");
  EXPECT_EQ(c.bash({"run", "promote", "--env", "st"}), "staging\n");
  EXPECT_EQ(c.bash({"backup", "pin", "dev", ""}), c.backup_id + "\n");
  EXPECT_EQ(c.bash({"rollback", "dev", "--backup", ""}), "latest\n" + c.backup_id + "\n");
  auto options = c.bash({"rollback", "dev", "--"});
  for (const std::string o : {"--to\n", "--backup\n", "--yes\n", "--wait-ready\n"})
    EXPECT_TRUE(contains(options, o)) << options;
}

TEST(Package, ZshCompletionOffersTheSameCandidates) {
  if (pk::run({"zsh", "--version"}).code != 0)
    GTEST_SKIP() << "zsh is not installed (scripts/install-deps.sh installs it)";
  CompletionProject c;
  std::string file = pk::build_dir() + "/completions/_ferry";
  auto syntax = pk::run({"zsh", "-n", file});
  ASSERT_EQ(syntax.code, 0) << syntax.all();
  auto ask = [&](std::vector<std::string> words) {
    std::vector<std::string> argv = {"zsh", "-f", "-c", "source \"$1\"; shift; _ferry_candidates \"$@\"",
                                     "_",   file, "-C", c.project.root()};
    argv.insert(argv.end(), words.begin(), words.end());
    return pk::run(argv, CompletionProject::path_env()).out;
  };
  EXPECT_EQ(ask({"plan", ""}), "promote\n");
  EXPECT_EQ(ask({"backups", ""}), "dev\nstaging\n");
  EXPECT_EQ(ask({"backup", "verify", "dev", ""}), "latest\n" + c.backup_id + "\n");
}

// The .deb from this build directory, installed with apt into a fresh Debian 12 root: its
// Depends must pull in everything ferry needs there (libraries, pg_dump, zstd).
TEST(Package, DebInstallsIntoFreshDebianAndTakesABackup) {
  if (!pk::podman_usable()) GTEST_SKIP() << "podman (as root) is needed to run a fresh Debian root";
  if (!pk::debian_mirror_reachable()) GTEST_SKIP() << "the Debian mirror deb.debian.org is unreachable";
  std::string out = temp_dir("ferry-deb"), log;
  std::string deb = pk::build_deb(out, &log);
  ASSERT_FALSE(deb.empty()) << log;
  auto depends = pk::run({"dpkg-deb", "-f", deb, "Depends"}).out;
  for (const std::string d : {"libpq5", "libssh2-1", "libzstd1", "postgresql-client", "zstd"})
    EXPECT_TRUE(contains(depends, d)) << depends;
  // The C++ libraries are inside the binary (CMakeLists.txt): not dependencies.
  for (const std::string d : {"libpqxx", "libyaml-cpp", "libstdc++", "libspdlog", "libfmt", "libboost", "libpg-query"})
    EXPECT_FALSE(contains(depends, d)) << depends;
  auto files = pk::run({"dpkg-deb", "-c", deb}).out;
  for (const std::string f : {"./usr/bin/ferry", "/man1/ferry.1", "/bash-completion/completions/ferry",
                              "/zsh/vendor-completions/_ferry", "./usr/share/doc/ferry/docs/guide.md",
                              "./usr/share/doc/ferry/THIRD_PARTY_NOTICES"})
    EXPECT_TRUE(contains(files, f)) << f << " not in the package:\n" << files;
  auto base = pk::debian_base_image();
  ASSERT_EQ(base.code, 0) << base.all();

  PgCluster pg;
  pg.create_db("app");
  pg.exec("app", "CREATE TABLE kept (id int); INSERT INTO kept SELECT generate_series(1, 100);");
  Project project;
  project.env("dev", pg, "app", "backup:\n  dir: " + project.path("backups") + "\n");
  project.write("playbooks/promote.yaml", "migrations: migrations\nstages: [dev]\nsteps:\n  - backup\n  - migrate\n");
  project.migration("0001_t", "CREATE TABLE t (id int);\n");
  std::string cache = std::string(getenv("HOME")) + "/.cache/ferry-test";
  fs::create_directories(cache + "/apt-lists/partial");
  fs::create_directories(cache + "/apt-archives/partial");
  // apt's lists and downloaded packages are cached between runs; the root itself is fresh.
  auto p =
      pk::run({"podman", "run", "--rm", "--network", "host", "-v", deb + ":/tmp/ferry.deb:ro", "-v",
               cache + "/apt-lists:/var/lib/apt/lists", "-v", cache + "/apt-archives:/var/cache/apt/archives", "-v",
               project.root() + ":" + project.root(), "-e", "ROOT=" + project.root(), "localhost/ferry-debian12:base",
               "bash", "-euc",
               "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
               "--no-install-recommends /tmp/ferry.deb >/dev/null && ferry --version && ferry -C \"$ROOT\" validate "
               "&& ferry -C \"$ROOT\" backup dev"},
              {}, 900);
  ASSERT_EQ(p.code, 0) << p.all();
  EXPECT_TRUE(std::regex_search(p.out, std::regex(R"re(^ferry \d+\.\d+\.\d+ \(git )re"))) << p.out;
  EXPECT_TRUE(contains(p.all(), "backup")) << p.all();
  bool dump = false;
  for (const auto& e : fs::directory_iterator(project.path("backups")))
    dump = dump || contains(e.path().filename().string(), ".dump.zst");
  EXPECT_TRUE(dump) << "no zstd-compressed dump in " << project.path("backups");
  // The backup taken inside the fresh root is listed and verified by this build's ferry.
  auto list = project.ferry({"backups", "dev"});
  EXPECT_EQ(list.code, 0) << list.all();
  EXPECT_TRUE(contains(list.out, "verified")) << list.out;
  fs::remove_all(out);
}

TEST(Package, ImageHasFerryPgDumpAndZstd) {
  if (!pk::podman_usable()) GTEST_SKIP() << "podman (as root) is needed to build the image";
  auto built = pk::run({"bash", source_dir() + "/scripts/image.sh", pk::build_dir()}, {}, 1200);
  if (built.code != 0 && !pk::debian_mirror_reachable()) GTEST_SKIP() << "the Debian mirror is unreachable";
  ASSERT_EQ(built.code, 0) << built.all();
  std::string image = "localhost/ferry:latest", log = built.out;
  EXPECT_TRUE(std::regex_search(log, std::regex(R"re(deb: ferry_\S+\.deb \d+ bytes)re"))) << log;
  EXPECT_TRUE(std::regex_search(log, std::regex(R"re(image: localhost/ferry:\S+ \d+ bytes)re"))) << log;
  auto version = pk::run({"podman", "run", "--rm", image, "--version"}, {}, 120);
  EXPECT_EQ(version.out, pk::run({ferry_binary(), "--version"}).out) << version.all();
  auto tools = pk::run({"podman", "run", "--rm", "--entrypoint", "sh", image, "-c",
                        "pg_dump --version; pg_restore --version; psql --version; zstd --version; id -u; pwd"},
                       {}, 120);
  ASSERT_EQ(tools.code, 0) << tools.all();
  for (const std::string t : {"pg_dump (PostgreSQL) 15", "pg_restore (PostgreSQL) 15", "psql (PostgreSQL) 15",
                              "Zstandard", "\n10001\n/project\n"})
    EXPECT_TRUE(contains(tools.out, t)) << t << " not in:\n" << tools.out;
}
