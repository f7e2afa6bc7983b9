// The decompressed copy of a backup a swap restore writes (steps/archive_offsets.*): a real
// pg_dump of Pagila (plus an empty table and a large object) written to a pipe comes out with
// its rows in fewer, larger chunks and every data position set; pg_restore reads from it the
// very SQL and data it reads from pg_dump's own file, and restores it in parallel. An archive
// pg_dump wrote to a file gets its positions rewritten; a truncated one is passed on with no
// position set; one it does not understand (another version, not an archive) byte for byte.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

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
    // Feeds `bytes` in odd-sized pieces (integers split across feeds) into a file, then patches it.
  static bool patch_copy(const std::string& bytes, std::string& patched, std::string* why = nullptr,
                         ArchiveOffsets* stats = nullptr) {
    std::string copy = dir + "/copy.dump";
    int fd = ::open(copy.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
    ArchiveOffsets o([&](const char* d, size_t n) { EXPECT_EQ(::write(fd, d, n), static_cast<ssize_t>(n)); });
    for (size_t i = 0; i < bytes.size(); i += 4093) o.feed(bytes.data() + i, std::min<size_t>(4093, bytes.size() - i));
    o.finish();
    bool ok = o.patch(fd);
    ::close(fd);
    patched = slurp(copy);
    if (why) *why = o.why();
    if (stats) *stats = std::move(o);
    return ok;
  }
  static std::string save(const std::string& name, const std::string& bytes) {
    std::string path = dir + "/" + name;
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
    return path;
  }
  // What pg_restore reads from an archive: its whole SQL script, data included.
  static std::string script(const std::string& path, const std::vector<std::string>& more = {}) {
    std::vector<std::string> argv = {"pg_restore", "-f", "-"};
    argv.insert(argv.end(), more.begin(), more.end());
    argv.push_back(path);
    auto r = run(argv);
    EXPECT_EQ(r.code, 0) << r.all();
    std::string out, line;  // but for the random key of psql's \restrict lines (pg_restore 15.14 on)
    std::istringstream in(r.out);
    while (std::getline(in, line))
      if (line.rfind("\\restrict ", 0) != 0 && line.rfind("\\unrestrict ", 0) != 0) out += line + "\n";
    return out;
  }
  static int restore_j2(const std::string& db, const std::string& path) {
    pg->create_db(db);
    auto r = run({"pg_restore", "-j2", "--exit-on-error", "-h", "127.0.0.1", "-p", std::to_string(pg->port()), "-U",
                  "postgres", "-d", db, path});
    EXPECT_EQ(r.code, 0) << r.all();
    return r.code;
  }

  static PgCluster* pg;
  static std::string dir;
};
PgCluster* ArchiveOffsetsTest::pg = nullptr;
std::string ArchiveOffsetsTest::dir;

TEST_F(ArchiveOffsetsTest, APipedDumpIsRestoredAsPgDumpsOwnFileFromFewerChunks) {
  std::string file = slurp(dir + "/file.dump"), piped = slurp(dir + "/piped.dump");
  ASSERT_EQ(file.size(), piped.size());
  ASSERT_NE(without_date(file), without_date(piped));  // the piped one has no offsets
  std::string patched, why;
  ArchiveOffsets stats([](const char*, size_t) {});
  ASSERT_TRUE(patch_copy(piped, patched, &why, &stats)) << why;
  EXPECT_GE(stats.blocks(), 16u);  // Pagila's tables with rows, and the large objects' block
  EXPECT_GT(stats.chunks_in(), 40000);  // a chunk per row
  EXPECT_LT(stats.chunks_out() * 20, stats.chunks_in());
  EXPECT_LT(patched.size(), piped.size());
  std::string path = save("patched.dump", patched);
  EXPECT_TRUE(script(path) == script(dir + "/file.dump")) << "pg_restore reads other SQL or data from it";
  // its positions are right: pg_restore -j seeks to each table's block, and refuses another
  ASSERT_EQ(restore_j2("restored", path), 0);
  EXPECT_EQ(pg->value("restored", "SELECT count(*) FROM rental"), pg->value("pagila", "SELECT count(*) FROM rental"));
  EXPECT_EQ(pg->value("restored", "SELECT count(*) FROM pg_largeobject_metadata"), "1");
}

TEST_F(ArchiveOffsetsTest, PositionsPgDumpWroteAreRewrittenOrUnsetAndTheRestPassedOn) {
  std::string file = slurp(dir + "/file.dump"), piped = slurp(dir + "/piped.dump");
  std::string patched, why;
  // pg_dump's own file: its chunks merged, its positions rewritten
  ASSERT_TRUE(patch_copy(file, patched, &why)) << why;
  std::string path = save("rewritten.dump", patched);
  EXPECT_TRUE(script(path) == script(dir + "/file.dump"));
  ASSERT_EQ(restore_j2("rewritten", path), 0);
  EXPECT_EQ(pg->value("rewritten", "SELECT count(*) FROM rental"), pg->value("pagila", "SELECT count(*) FROM rental"));
  // cut in half: no position is left pointing into merged data; a table before the cut reads
  EXPECT_FALSE(patch_copy(file.substr(0, file.size() / 2), patched, &why));
  EXPECT_EQ(why, "the archive ends inside a block");
  EXPECT_EQ(script(save("half.dump", patched), {"-a", "-t", "city"}), script(dir + "/file.dump", {"-a", "-t", "city"}));
  EXPECT_FALSE(patch_copy(piped.substr(0, 200), patched, &why));  // inside the TOC
  EXPECT_EQ(why, "the archive ends inside its table of contents");
  EXPECT_EQ(patched, piped.substr(0, 200));
  std::string newer = piped;
  newer[6] = 15;  // archive version 1.15
  EXPECT_FALSE(patch_copy(newer, patched, &why));
  EXPECT_EQ(patched, newer) << why;
  EXPECT_FALSE(patch_copy("not an archive at all", patched, &why));
  EXPECT_EQ(why, "not a pg_dump archive");
  EXPECT_EQ(patched, "not an archive at all");
  std::string tail = piped + "\x07";  // a block of an unknown type after the data
  EXPECT_FALSE(patch_copy(tail, patched, &why));
  EXPECT_EQ(why, "a block of type 7");
  EXPECT_TRUE(script(save("tail.dump", patched)) == script(dir + "/file.dump"));
}

}  // namespace
