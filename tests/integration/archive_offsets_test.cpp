// The data offsets a swap restore writes into its decompressed copy of a backup
// (steps/archive_offsets.*): a real pg_dump of Pagila (plus an empty table and a large object)
// written to a pipe, patched, is byte for byte the archive pg_dump writes to a file, but for
// the dump's time in the header; anything else (an archive that has its offsets, a truncated
// one, another version, not an archive) is left as it is.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "steps/archive_offsets.hpp"
#include "support/fixtures.hpp"
#include "support/packaging.hpp"

namespace fs = std::filesystem;
using namespace ferry::test;
using ferry::steps::detail::ArchiveOffsets;
using ferry::test::packaging::run;

namespace {

std::string slurp(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// The header's date (7 integers after the compression level: bytes 16-50 with 4-byte ints).
std::string without_date(std::string a) {
  for (size_t i = 16; i < 51 && i < a.size(); ++i) a[i] = 0;
  return a;
}

class ArchiveOffsetsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pg = new PgCluster();
    pg->create_db("pagila");
    pg->load_pagila("pagila");
    pg->exec("pagila", "CREATE TABLE empty_one (id int); SELECT lo_from_bytea(0, 'the bytes of a large object')");
    dir = temp_dir("ferry-archive-offsets");
    std::string conn = "-h 127.0.0.1 -p " + std::to_string(pg->port()) + " -U postgres -d pagila";
    auto r = run({"bash", "-c",
                  "set -e -o pipefail; pg_dump -Fc -Z0 " + conn + " -f " + dir + "/file.dump; pg_dump -Fc -Z0 " + conn +
                      " | cat > " + dir + "/piped.dump"});
    ASSERT_EQ(r.code, 0) << r.all();
  }
  static void TearDownTestSuite() {
    fs::remove_all(dir);
    delete pg;
  }
  // Feeds `bytes` in odd-sized pieces (integers split across feeds), then patches a copy.
  static bool patch_copy(const std::string& bytes, std::string& patched, std::string* why = nullptr,
                         size_t* blocks = nullptr) {
    std::string copy = dir + "/copy.dump";
    { std::ofstream(copy, std::ios::binary | std::ios::trunc) << bytes; }
    ArchiveOffsets o;
    for (size_t i = 0; i < bytes.size(); i += 4093) o.feed(bytes.data() + i, std::min<size_t>(4093, bytes.size() - i));
    int fd = ::open(copy.c_str(), O_RDWR);
    bool ok = o.patch(fd);
    ::close(fd);
    patched = slurp(copy);
    if (why) *why = o.why();
    if (blocks) *blocks = o.blocks();
    return ok;
  }

  static PgCluster* pg;
  static std::string dir;
};
PgCluster* ArchiveOffsetsTest::pg = nullptr;
std::string ArchiveOffsetsTest::dir;

TEST_F(ArchiveOffsetsTest, APipedDumpPatchedIsTheArchivePgDumpWritesToAFile) {
  std::string file = slurp(dir + "/file.dump"), piped = slurp(dir + "/piped.dump");
  ASSERT_EQ(file.size(), piped.size());
  ASSERT_NE(without_date(file), without_date(piped));  // the piped one has no offsets
  std::string patched, why;
  size_t blocks = 0;
  ASSERT_TRUE(patch_copy(piped, patched, &why, &blocks)) << why;
  EXPECT_GE(blocks, 16u);  // Pagila's tables with rows, and the large objects' block
  EXPECT_TRUE(without_date(patched) == without_date(file)) << "the patched archive differs from pg_dump's own";
  // and pg_restore lists and restores it, in parallel
  std::string path = dir + "/patched.dump";
  { std::ofstream(path, std::ios::binary | std::ios::trunc) << patched; }
  pg->create_db("restored");
  auto r = run({"pg_restore", "-j2", "--exit-on-error", "-h", "127.0.0.1", "-p", std::to_string(pg->port()), "-U",
                "postgres", "-d", "restored", path});
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_EQ(pg->value("restored", "SELECT count(*) FROM rental"), pg->value("pagila", "SELECT count(*) FROM rental"));
  EXPECT_EQ(pg->value("restored", "SELECT count(*) FROM pg_largeobject_metadata"), "1");
}

TEST_F(ArchiveOffsetsTest, AnArchiveItDoesNotUnderstandIsLeftAsItIs) {
  std::string file = slurp(dir + "/file.dump"), piped = slurp(dir + "/piped.dump");
  std::string patched, why;
  EXPECT_FALSE(patch_copy(file, patched, &why));  // pg_dump already wrote its offsets
  EXPECT_EQ(patched, file) << why;
  EXPECT_FALSE(patch_copy(piped.substr(0, piped.size() / 2), patched, &why));
  EXPECT_EQ(patched, piped.substr(0, piped.size() / 2)) << why;
  EXPECT_FALSE(patch_copy(piped.substr(0, 200), patched, &why));  // inside the TOC
  EXPECT_EQ(why, "the archive ends inside its table of contents");
  std::string newer = piped;
  newer[6] = 15;  // archive version 1.15
  EXPECT_FALSE(patch_copy(newer, patched, &why));
  EXPECT_EQ(patched, newer) << why;
  EXPECT_FALSE(patch_copy("not an archive at all", patched, &why));
  EXPECT_EQ(why, "not a pg_dump archive");
  std::string tail = piped + "\x07";  // a block of an unknown type after the data
  EXPECT_FALSE(patch_copy(tail, patched, &why));
  EXPECT_EQ(patched, tail) << why;
}

}  // namespace
