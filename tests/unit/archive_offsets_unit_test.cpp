// ArchiveOffsets on hand-made custom archives (the layout pg_dump 9.0-15 writes): version 1.13
// (no table access method in the TOC) and 1.14, several large objects (an empty one too), an
// empty table, integers split across feeds; rows merged into chunks of up to 64 KiB; and the
// streams it must pass on without offsets. The real pg_dump's archives:
// tests/integration/archive_offsets_test.cpp.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "steps/archive_offsets.hpp"

using ferry::steps::detail::ArchiveOffsets;

namespace {

struct Writer {
  std::string b;
  void byte(int v) { b.push_back(static_cast<char>(v)); }
  void integer(long long v) {
    byte(v < 0 ? 1 : 0);
    unsigned long long u = static_cast<unsigned long long>(v < 0 ? -v : v);
    for (int i = 0; i < 4; ++i) byte(static_cast<int>((u >> (8 * i)) & 0xff));
  }
  void str(const char* s) {
    if (!s) return integer(-1);
    integer(static_cast<long long>(std::string(s).size()));
    b += s;
  }
};

struct Archive {
  std::string bytes;
  std::vector<size_t> fields;  // offset field of entries 1..n (flag 1 or 3)
  std::vector<long long> blocks;  // block position of entries with data, by entry (-1: none)
};

// Entries: 1 a table with rows, 2 an empty table, 3 the large objects, 4 no data (a schema).
// `merged`: as ArchiveOffsets writes it (table 1's two chunks are one).
Archive make(int vmin, bool merged = false) {
  Writer w;
  w.b = "PGDMP";
  w.byte(1), w.byte(vmin), w.byte(0), w.byte(4), w.byte(8), w.byte(1);
  w.integer(0);
  for (int i = 0; i < 7; ++i) w.integer(i);
  w.str("app"), w.str("15.8"), w.str("15.8");
  w.integer(4);
  Archive a;
  for (int id = 1; id <= 4; ++id) {
    w.integer(id);
    w.integer(id == 4 ? 0 : 1);
    w.str("1259"), w.str("16384"), w.str("tag"), w.str(id == 3 ? "BLOBS" : "TABLE DATA");
    w.integer(2);
    w.str(""), w.str(""), w.str(id == 3 ? nullptr : "COPY t FROM stdin;\n"), w.str("public"), w.str("");
    if (vmin >= 14) w.str("heap");
    w.str("postgres"), w.str("false");
    w.str("7"), w.str(nullptr);
    a.fields.push_back(w.b.size());
    w.byte(id == 4 ? 3 : 1);
    for (int i = 0; i < 8; ++i) w.byte(0);
  }
  a.blocks = {-1, -1, -1, -1};
  a.blocks[0] = static_cast<long long>(w.b.size());  // table 1: two chunks
  if (merged)
    w.byte(1), w.integer(1), w.integer(12), w.b += "1\tone\n2\ttwo\n", w.integer(0);
  else
    w.byte(1), w.integer(1), w.integer(6), w.b += "1\tone\n", w.integer(6), w.b += "2\ttwo\n", w.integer(0);
  a.blocks[1] = static_cast<long long>(w.b.size());  // table 2: empty
  w.byte(1), w.integer(2), w.integer(0);
  a.blocks[2] = static_cast<long long>(w.b.size());  // large objects: one with bytes, one empty
  w.byte(3), w.integer(3), w.integer(16500), w.integer(3), w.b += "abc", w.integer(0), w.integer(16501), w.integer(0),
      w.integer(0);
  a.bytes = w.b;
  return a;
}

long long field_value(const std::string& bytes, size_t field, int* flag) {
  *flag = static_cast<unsigned char>(bytes[field]);
  unsigned long long v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<unsigned long long>(static_cast<unsigned char>(bytes[field + 1 + i])) << (8 * i);
  return static_cast<long long>(v);
}

// Feeds `bytes` `piece` bytes at a time into a temporary file through ArchiveOffsets, patches
// it; returns the file's bytes.
std::string patched(const std::string& bytes, size_t piece, bool* ok, std::string* why = nullptr) {
  char path[] = "/tmp/ferry-archive-XXXXXX";
  int fd = mkstemp(path);
  // the TOC parsed as soon as it is whole: the data section comes in `piece`s too
  ArchiveOffsets o([&](const char* d, size_t n) { EXPECT_EQ(write(fd, d, n), static_cast<ssize_t>(n)); }, 1);
  for (size_t i = 0; i < bytes.size(); i += piece) o.feed(bytes.data() + i, std::min(piece, bytes.size() - i));
  o.finish();
  *ok = o.patch(fd);
  if (why) *why = o.why();
  off_t size = lseek(fd, 0, SEEK_END);
  std::string out(static_cast<size_t>(size), '\0');
  EXPECT_EQ(pread(fd, out.data(), out.size(), 0), static_cast<ssize_t>(out.size()));
  close(fd);
  unlink(path);
  return out;
}

// The header and TOC of a version 1.14 archive of one table (dump ID 1), its position not set
// (the field is the 9 bytes before the end).
Writer one_table_head() {
  Writer w;
  w.b = "PGDMP";
  w.byte(1), w.byte(14), w.byte(0), w.byte(4), w.byte(8), w.byte(1);
  w.integer(0);
  for (int i = 0; i < 7; ++i) w.integer(i);
  w.str("app"), w.str("15.8"), w.str("15.8");
  w.integer(1);
  w.integer(1), w.integer(1), w.str("1259"), w.str("16384"), w.str("t"), w.str("TABLE DATA"), w.integer(2);
  w.str(""), w.str(""), w.str("COPY t FROM stdin;\n"), w.str("public"), w.str(""), w.str("heap"), w.str("postgres"),
      w.str("false"), w.str(nullptr);
  w.byte(1);
  for (int i = 0; i < 8; ++i) w.byte(0);
  return w;
}

}  // namespace

TEST(ArchiveOffsets, EachDataEntryGetsItsBlocksPositionInEveryVersionItKnows) {
  for (int vmin : {12, 13, 14})
    for (size_t piece : {size_t{1}, size_t{3}, size_t{7}, size_t{4096}}) {
      Archive a = make(vmin), m = make(vmin, true);
      bool ok = false;
      std::string why;
      std::string out = patched(a.bytes, piece, &ok, &why);
      ASSERT_TRUE(ok) << "1." << vmin << " in pieces of " << piece << ": " << why;
      for (int e = 0; e < 3; ++e) {
        int flag = 0;
        EXPECT_EQ(field_value(out, a.fields[e], &flag), m.blocks[e]) << "entry " << e + 1;
        EXPECT_EQ(flag, 2);
      }
      int flag = 0;
      EXPECT_EQ(field_value(out, a.fields[3], &flag), 0);  // no data: untouched
      EXPECT_EQ(flag, 3);
      // nothing else changed: the merged archive, with its offsets
      std::string back = out;
      for (int e = 0; e < 3; ++e) back.replace(m.fields[e], 9, m.bytes.substr(m.fields[e], 9));
      EXPECT_EQ(back, m.bytes);
    }
}

TEST(ArchiveOffsets, AStreamItCannotVouchForIsPassedOnWithoutOffsets) {
  Archive a = make(14), m = make(14, true);
  // `expect`: what reaches the file (the data's chunks merged up to what it could not read)
  auto no_offsets = [&](const std::string& bytes, const std::string& expect, const std::string& expect_why) {
    bool ok = true;
    std::string why;
    EXPECT_EQ(patched(bytes, 5, &ok, &why), expect) << expect_why;
    EXPECT_FALSE(ok);
    EXPECT_EQ(why, expect_why);
  };
  no_offsets(a.bytes.substr(0, a.bytes.size() - 1), m.bytes.substr(0, m.bytes.size() - 1),
             "the archive ends inside a block");
  no_offsets(a.bytes.substr(0, static_cast<size_t>(a.blocks[1])), m.bytes.substr(0, static_cast<size_t>(m.blocks[1])),
             "no block for dump ID 2");
  std::string tail = std::string("\x01\x00\x09\x00\x00\x00\x00\x06\x00\x00\x00", 11);
  no_offsets(a.bytes + tail, m.bytes + tail, "a block for dump ID 9 with no entry");
  no_offsets(a.bytes + std::string("\x01\x00\x04\x00\x00\x00", 6), m.bytes + std::string("\x01\x00\x04\x00\x00\x00", 6),
             "a block for an entry without data");
  no_offsets(a.bytes + std::string("\x01\x00\x01\x00\x00\x00", 6), m.bytes + std::string("\x01\x00\x01\x00\x00\x00", 6),
             "two blocks of one dump ID");
  no_offsets(a.bytes + "\x02", m.bytes + "\x02", "a block of type 2");
  // not understood at all: byte for byte
  std::string v15 = a.bytes;
  v15[6] = 15;
  no_offsets(v15, v15, "archive version 1.15 (known: 1.12-1.14)");
  std::string int8 = a.bytes;
  int8[8] = 8;
  no_offsets(int8, int8, "integers of other sizes than pg_dump's 4 and 8 bytes");
  std::string dir = a.bytes;
  dir[10] = 5;
  no_offsets(dir, dir, "not the custom format");
  no_offsets("PGDMX" + a.bytes.substr(5), "PGDMX" + a.bytes.substr(5), "not a pg_dump archive");
  no_offsets(a.bytes.substr(0, 40), a.bytes.substr(0, 40), "the archive ends inside its table of contents");
}

// A -Z0 dump's rows are chunks of their own: merged into chunks of up to 64 KiB, a chunk larger
// than that passed on as it is; a compressed archive's chunks are never merged.
TEST(ArchiveOffsets, SmallChunksAreMergedUpTo64KiBAndNothingElseIs) {
  Writer w = one_table_head();
  size_t data_at = w.b.size();
  std::string rows;
  w.byte(1), w.integer(1);
  for (int i = 0; i < 100; ++i) w.integer(1000), w.b += std::string(1000, static_cast<char>('a' + i % 26)), rows += std::string(1000, static_cast<char>('a' + i % 26));
  w.integer(70000), w.b += std::string(70000, 'z');
  w.integer(3), w.b += "end", w.integer(0);
  for (size_t piece : {size_t{1}, size_t{4093}, size_t{1} << 20}) {
    bool ok = false;
    std::string why;
    std::string out = patched(w.b, piece, &ok, &why);
    ASSERT_TRUE(ok) << why;
    Writer e;
    e.b = w.b.substr(0, data_at);
    e.byte(1), e.integer(1);
    e.integer(65000), e.b += rows.substr(0, 65000);  // 65 rows: a 66th would pass 64 KiB
    e.integer(35000), e.b += rows.substr(65000);
    e.integer(70000), e.b += std::string(70000, 'z');  // too large to merge
    e.integer(3), e.b += "end", e.integer(0);
    std::string back = out;
    back.replace(data_at - 9, 9, w.b.substr(data_at - 9, 9));
    EXPECT_TRUE(back == e.b) << "in pieces of " << piece;
    int flag = 0;
    EXPECT_EQ(field_value(out, data_at - 9, &flag), static_cast<long long>(data_at));
    EXPECT_EQ(flag, 2);
  }
  std::string zlib = w.b;
  zlib[12] = 6;  // compression level 6: its chunks are zlib's, passed on as they are
  bool ok = false;
  std::string out = patched(zlib, 4093, &ok);
  ASSERT_TRUE(ok);
  out.replace(data_at - 9, 9, zlib.substr(data_at - 9, 9));
  EXPECT_TRUE(out == zlib);
}

// An archive pg_dump wrote to a file has its positions set: once chunks are merged they would
// be stale, so they are rewritten; when the stream cannot be read to its end, they are unset.
TEST(ArchiveOffsets, PositionsPgDumpSetAreRewrittenOrUnsetOnceChunksAreMerged) {
  Archive a = make(14), m = make(14, true);
  std::string set = a.bytes;
  for (int e = 0; e < 3; ++e) {
    set[a.fields[e]] = 2;
    for (int i = 0; i < 8; ++i)
      set[a.fields[e] + 1 + i] = static_cast<char>((static_cast<unsigned long long>(a.blocks[e]) >> (8 * i)) & 0xff);
  }
  bool ok = false;
  std::string why;
  std::string out = patched(set, 7, &ok, &why);
  ASSERT_TRUE(ok) << why;
  for (int e = 0; e < 3; ++e) {
    int flag = 0;
    EXPECT_EQ(field_value(out, m.fields[e], &flag), m.blocks[e]) << "entry " << e + 1;
    EXPECT_EQ(flag, 2);
  }
  out = patched(set.substr(0, set.size() - 1), 7, &ok, &why);
  EXPECT_FALSE(ok);
  EXPECT_EQ(why, "the archive ends inside a block");
  for (int e = 0; e < 3; ++e) {
    int flag = 0;
    field_value(out, m.fields[e], &flag);
    EXPECT_EQ(flag, 1) << "entry " << e + 1 << ": a stale position left set";
  }
}

// A stream cut inside a chunk: that chunk is passed on as it came (its own length, its bytes
// so far), whether it opened a merged chunk or joined one.
TEST(ArchiveOffsets, AChunkCutShortIsPassedOnAsItCame) {
  Archive a = make(14);
  size_t first = static_cast<size_t>(a.blocks[0]) + 1 + 5;  // table 1's first chunk: its length
  for (size_t cut : {first + 5 + 3, first + 5 + 6 + 5 + 3})  // inside its first, its second chunk
    for (size_t piece : {size_t{1}, size_t{7}, size_t{4096}}) {
      bool ok = true;
      std::string why;
      EXPECT_EQ(patched(a.bytes.substr(0, cut), piece, &ok, &why), a.bytes.substr(0, cut)) << cut << " " << piece;
      EXPECT_FALSE(ok);
      EXPECT_EQ(why, "the archive ends inside a block");
    }
}

// Over 1 MiB of rows (the output buffer filled and written many times, merged chunks opened
// near its end), in pieces of 1 byte and of 4093: the rows merged greedily up to 64 KiB.
TEST(ArchiveOffsets, MegabytesOfRowsAreMergedWhateverThePieces) {
  Writer w = one_table_head();
  size_t data_at = w.b.size();
  Writer e;
  e.b = w.b;
  w.byte(1), w.integer(1);
  e.byte(1), e.integer(1);
  std::string merged;
  for (int i = 0; i < 40000; ++i) {
    std::string row = std::to_string(i) + "\t" + std::string(static_cast<size_t>(20 + i % 50), 'r') + "\n";
    w.integer(static_cast<long long>(row.size())), w.b += row;
    if (merged.size() + row.size() > 65536) e.integer(static_cast<long long>(merged.size())), e.b += merged, merged.clear();
    merged += row;
  }
  e.integer(static_cast<long long>(merged.size())), e.b += merged;
  w.integer(0), e.integer(0);
  ASSERT_GT(e.b.size(), size_t{3} << 19);  // 1.5 MiB
  for (size_t piece : {size_t{1}, size_t{4093}}) {
    bool ok = false;
    std::string why;
    std::string out = patched(w.b, piece, &ok, &why);
    ASSERT_TRUE(ok) << why;
    int flag = 0;
    EXPECT_EQ(field_value(out, data_at - 9, &flag), static_cast<long long>(data_at));
    EXPECT_EQ(flag, 2);
    out.replace(data_at - 9, 9, w.b.substr(data_at - 9, 9));
    EXPECT_TRUE(out == e.b) << "in pieces of " << piece << ": " << out.size() << " bytes, expected " << e.b.size();
  }
}
