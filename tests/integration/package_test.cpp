// ferry installed like a real tool: `--version` from CMake.
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
