// The local transport's file operations, done in-process (transport/local_files.cpp): an atomic
// write (temporary, fsync, rename) with the mode asked for, a symlink planted at the target
// replaced and never followed, nothing partial left by a failed write, and paths taken
// literally whatever they hold. Real files on this machine; the same contracts as the sh
// scripts the remote transports keep (transport_conformance_test.cpp runs both).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "support/fixtures.hpp"
#include "transport/transport.hpp"

namespace fs = std::filesystem;
using namespace ferry;
using namespace ferry::test;

namespace {

class LocalFiles : public ::testing::Test {
 protected:
  void SetUp() override { dir = temp_dir("ferry-localfiles"); }
  void TearDown() override { fs::remove_all(dir); }
  static std::string slurp(const std::string& p) {
    std::ifstream f(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
  }
  // Names in dir that are not `keep`: a leftover temporary would be one.
  std::vector<std::string> others(const std::vector<std::string>& keep) {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir)) {
      std::string n = e.path().filename().string();
      if (std::find(keep.begin(), keep.end(), n) == keep.end()) out.push_back(n);
    }
    return out;
  }
  transport::LocalTransport local;
  std::string dir;
};

TEST_F(LocalFiles, AWriteReplacesTheWholeFileWithItsModeAndLeavesNoTemporary) {
  std::string p = dir + "/b.json";
  local.put_file(p, "old\n");
  local.put_file(p, "new contents\n", 0640);
  EXPECT_EQ(slurp(p), "new contents\n");
  struct stat st {};
  ASSERT_EQ(stat(p.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  local.put_file(p, "private\n");  // the default: owner only
  ASSERT_EQ(stat(p.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_TRUE(others({"b.json"}).empty());
  EXPECT_EQ(local.fetch_file(p), "private\n");
}

TEST_F(LocalFiles, ASymlinkPlantedAtTheTargetIsReplacedNeverWrittenThrough) {
  std::string victim = dir + "/victim";
  std::ofstream(victim) << "keep me\n";
  fs::create_symlink(victim, dir + "/b.pin");
  local.put_file(dir + "/b.pin", "pinned\n");
  EXPECT_EQ(slurp(victim), "keep me\n");
  EXPECT_FALSE(fs::is_symlink(dir + "/b.pin"));
  EXPECT_EQ(slurp(dir + "/b.pin"), "pinned\n");
}

TEST_F(LocalFiles, AFailedWriteLeavesNoPartialFileAndTheOldFileWhole) {
  // The target is a directory: the rename fails after the bytes were written.
  fs::create_directory(dir + "/taken");
  std::ofstream(dir + "/taken/inside") << "x";
  try {
    local.put_file(dir + "/taken", "data");
    FAIL() << "a write over a directory must fail";
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), "cannot write '" + dir + "/taken' on local")) << e.what();
  }
  EXPECT_TRUE(fs::is_directory(dir + "/taken"));
  // The source fails while being read (a directory): the old file stays as it was.
  std::ofstream(dir + "/old") << "old\n";
  EXPECT_THROW(local.put_local_file(dir + "/taken", dir + "/old"), Error);
  EXPECT_EQ(slurp(dir + "/old"), "old\n");
  // A missing directory: an error naming the path, nothing created.
  EXPECT_THROW(local.put_file(dir + "/nope/x", "data"), Error);
  EXPECT_EQ(others({"taken", "old"}), std::vector<std::string>{});
}

TEST_F(LocalFiles, PathsWithQuotesNewlinesAndSpacesAreTakenLiterally) {
  std::string odd = "a 'b' \"c\"\n$(touch pwned) ;x";
  std::string sub = dir + "/" + odd;
  fs::create_directory(sub);
  local.put_file(sub + "/" + odd, "v\n");
  EXPECT_EQ(local.fetch_file(sub + "/" + odd), "v\n");
  EXPECT_EQ(local.list(sub), std::vector<std::string>{odd});
  auto got = local.fetch_files(sub, {odd, "missing"});
  EXPECT_EQ(got[odd], std::optional<std::string>("v\n"));
  EXPECT_EQ(got["missing"], std::nullopt);
  EXPECT_TRUE(local.remove(sub, odd));
  EXPECT_TRUE(local.list(sub).empty());
  EXPECT_FALSE(fs::exists("pwned"));
  EXPECT_THROW(local.remove(sub, ".."), Error);
}

TEST_F(LocalFiles, ListAndRemoveKeepTheScriptsContracts) {
  try {
    local.list(dir + "/nope");
    FAIL() << "a missing directory is never an empty one";
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), dir + "/nope does not exist")) << e.what();
  }
  std::ofstream(dir + "/file") << "x";
  EXPECT_THROW(local.list(dir + "/file"), Error);
  std::ofstream(dir + "/.a.partial") << "x";
  std::ofstream(dir + "/b.pin") << "x";
  EXPECT_EQ(local.list(dir, "*.pin"), std::vector<std::string>{"b.pin"});
  EXPECT_EQ(local.list(dir, ".*.partial*"), std::vector<std::string>{".a.partial"});
  // A symlink to a directory is removed itself; what it points at stays.
  std::string outside = temp_dir("ferry-localfiles-outside");
  std::ofstream(outside + "/precious") << "x";
  fs::create_directory_symlink(outside, dir + "/link.dir");
  EXPECT_TRUE(local.remove(dir, "link.dir"));
  EXPECT_TRUE(fs::exists(outside + "/precious"));
  EXPECT_FALSE(fs::exists(dir + "/link.dir"));
  fs::remove_all(outside);
}

}  // namespace
