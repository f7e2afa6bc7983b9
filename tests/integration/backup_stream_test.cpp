// The parts of the in-process backup pipeline (steps/backup_here.*), each against real files and
// the real zstd program: libzstd's stream (compress/zstd.*) is read by `zstd -d` and by
// `zstd -t`, and reads what the program wrote; truncated and corrupt input is refused; the
// partial file (transport/local_partial_file.hpp) is never written through a planted symlink,
// is removed unless published, and is published 0600 under its final name.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "compress/zstd.hpp"
#include "core/error.hpp"
#include "support/fixtures.hpp"
#include "support/packaging.hpp"
#include "transport/local_partial_file.hpp"

namespace fs = std::filesystem;
using namespace ferry;
using namespace ferry::test;
using ferry::test::packaging::run;

namespace {

std::string slurp(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

void spit(const std::string& p, const std::string& bytes) { std::ofstream(p, std::ios::binary) << bytes; }

// Text-like bytes with some randomness: several MB, more than one zstd job and buffer.
std::string sample(size_t n) {
  std::mt19937 rng(7);
  std::string s;
  s.reserve(n);
  while (s.size() < n) s += "row " + std::to_string(rng() % 100000) + "\tuser" + std::to_string(rng()) + "@example.com\n";
  s.resize(n);
  return s;
}

std::string zip(const std::string& in, int workers, size_t chunk = 65536) {
  std::string out;
  compress::ZstdCompressor z(1, workers, [&](const char* d, size_t n) { out.append(d, n); });
  for (size_t i = 0; i < in.size(); i += chunk) z.write(in.data() + i, std::min(chunk, in.size() - i));
  z.finish();
  return out;
}

std::string decompress(const std::string& in, size_t chunk = 4096) {
  std::string out;
  compress::ZstdDecompressor z([&](const char* d, size_t n) { out.append(d, n); });
  for (size_t i = 0; i < in.size(); i += chunk) z.write(in.data() + i, std::min(chunk, in.size() - i));
  z.finish();
  return out;
}

class BackupStream : public ::testing::Test {
 protected:
  void SetUp() override { dir = temp_dir("ferry-backupstream"); }
  void TearDown() override { fs::remove_all(dir); }
  std::string dir;
};

}  // namespace

TEST_F(BackupStream, WhatLibzstdWritesTheZstdProgramReadsAndTheOtherWayRound) {
  std::string raw = sample(12 << 20);
  for (int workers : {0, 2}) {
    std::string z = zip(raw, workers);
    EXPECT_LT(z.size(), raw.size() / 2);
    spit(dir + "/a.zst", z);
    auto t = run({"zstd", "-q", "-t", dir + "/a.zst"});
    EXPECT_EQ(t.code, 0) << t.all();  // the frame's checksum too
    auto d = run({"zstd", "-q", "-d", "-f", dir + "/a.zst", "-o", dir + "/a"});
    ASSERT_EQ(d.code, 0) << d.all();
    EXPECT_TRUE(slurp(dir + "/a") == raw) << "workers " << workers;
    EXPECT_TRUE(decompress(z) == raw);
  }
  spit(dir + "/b", raw);
  ASSERT_EQ(run({"zstd", "-q", "-1", "-f", dir + "/b", "-o", dir + "/b.zst"}).code, 0);
  EXPECT_TRUE(decompress(slurp(dir + "/b.zst")) == raw);
}

TEST_F(BackupStream, EmptyInputIsOneValidFrame) {
  std::string z = zip("", 2);
  EXPECT_FALSE(z.empty());
  EXPECT_EQ(decompress(z), "");
}

TEST_F(BackupStream, TruncatedOrCorruptInputIsRefused) {
  std::string z = zip(sample(1 << 20), 0);
  EXPECT_THROW(decompress(z.substr(0, z.size() / 2)), Error);
  EXPECT_THROW(decompress(z.substr(0, z.size() - 1)), Error);
  std::string bad = z;
  bad[bad.size() / 2] ^= 0x5a;
  EXPECT_THROW(decompress(bad), Error);
  EXPECT_THROW(decompress(""), Error);
}

TEST_F(BackupStream, APartialFileIsPublished0600UnderItsFinalName) {
  {
    transport::LocalPartialFile f(dir + "/.x.partial", dir + "/x");
    ASSERT_TRUE(f.write("hello ", 6));
    ASSERT_TRUE(f.write("world", 5));
    EXPECT_EQ(f.size(), 11);
    f.publish();
  }
  EXPECT_EQ(slurp(dir + "/x"), "hello world");
  EXPECT_FALSE(fs::exists(dir + "/.x.partial"));
  struct stat st {};
  ASSERT_EQ(stat((dir + "/x").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(BackupStream, AnUnpublishedPartialFileIsRemoved) {
  {
    transport::LocalPartialFile f(dir + "/.y.partial", dir + "/y");
    f.write("half", 4);
  }
  EXPECT_TRUE(fs::is_empty(dir));
}

TEST_F(BackupStream, APlantedPartialFileOrSymlinkIsNeverWrittenThrough) {
  spit(dir + "/victim", "precious");
  fs::create_symlink(dir + "/victim", dir + "/.z.partial");
  try {
    transport::LocalPartialFile f(dir + "/.z.partial", dir + "/z");
    FAIL() << "a planted symlink was opened";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot write in backup directory " + dir), std::string::npos) << e.what();
  }
  EXPECT_EQ(slurp(dir + "/victim"), "precious");
  EXPECT_TRUE(fs::is_symlink(dir + "/.z.partial"));  // someone else's: left alone
  EXPECT_FALSE(fs::exists(dir + "/z"));
}

TEST_F(BackupStream, DirectoriesAreMadePrivateAndAFileInTheWayIsRefused) {
  ASSERT_TRUE(transport::make_directories(dir + "/a/b/c", 0700));
  struct stat st {};
  ASSERT_EQ(stat((dir + "/a/b").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_TRUE(transport::make_directories(dir + "/a/b/c", 0700));  // already there
  spit(dir + "/file", "x");
  EXPECT_FALSE(transport::make_directories(dir + "/file", 0700));
  EXPECT_FALSE(transport::make_directories(dir + "/file/sub", 0700));
}
