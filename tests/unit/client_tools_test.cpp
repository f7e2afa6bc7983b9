// Which PostgreSQL client program ferry runs (steps/backup_tools.*): pg_wrapper's pick (the
// newest installed version, as it does given -h) made without its perl start, a user's own
// program on PATH kept, and a server newer than every installed client refused with the
// package to install. Real directories of real executable files.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/error.hpp"
#include "steps/backup_tools.hpp"

namespace fs = std::filesystem;
using namespace ferry;
using namespace ferry::steps::detail;

namespace {

class ClientTools : public ::testing::Test {
 protected:
  void SetUp() override {
    char t[] = "/tmp/ferry-clienttools-XXXXXX";
    root = mkdtemp(t);
  }
  void TearDown() override { fs::remove_all(root); }
  void install(const std::string& version, const std::string& prog) {
    fs::create_directories(root + "/" + version + "/bin");
    std::string p = root + "/" + version + "/bin/" + prog;
    std::ofstream(p) << "#!/bin/sh\n";
    fs::permissions(p, fs::perms::owner_all);
  }
  std::string root;
};

TEST_F(ClientTools, TheNewestInstalledVersionIsRunAsPgWrapperWouldGivenAHost) {
  install("13", "pg_dump");
  install("15", "pg_dump");
  install("16", "psql");  // 16 has no pg_dump: not a candidate for it
  fs::create_directories(root + "/notaversion/bin");
  auto t = pick_client_tool("pg_dump", true, root);
  EXPECT_EQ(t.path, root + "/15/bin/pg_dump");
  EXPECT_EQ(t.major, 15);
  EXPECT_NO_THROW(check_client_tool(t, "pg_dump", 15));
  EXPECT_NO_THROW(check_client_tool(t, "pg_dump", 14));  // a newer client than the server is fine
}

TEST_F(ClientTools, AProgramOnPathThatIsNotPgWrapperIsKept) {
  install("15", "pg_dump");
  auto t = pick_client_tool("pg_dump", false, root);
  EXPECT_EQ(t.path, "pg_dump");
  EXPECT_EQ(t.major, 0);
  EXPECT_NO_THROW(check_client_tool(t, "pg_dump", 99));                      // its own errors, not ours
  EXPECT_EQ(pick_client_tool("pg_restore", true, root).path, "pg_restore");  // none installed
}

TEST_F(ClientTools, AServerNewerThanEveryInstalledClientIsRefusedNamingThePackage) {
  install("15", "pg_dump");
  auto t = pick_client_tool("pg_dump", true, root);
  try {
    check_client_tool(t, "pg_dump", 17);
    FAIL() << "pg_dump 15 cannot dump a PostgreSQL 17 server";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("the server runs PostgreSQL 17 but the newest pg_dump installed is version 15"), std::string::npos)
        << m;
    EXPECT_EQ(e.hint(), "install postgresql-client-17 on this machine");
  }
}

}  // namespace
