// ArchiveOffsets on hand-made custom archives (the layout pg_dump 11-15 writes): version 1.13
// (no table access method in the TOC) and 1.14, several large objects (an empty one too), an
// empty table, integers split across feeds; and the streams it must leave alone. The real
// pg_dump's archives: tests/integration/archive_offsets_test.cpp.
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
Archive make(int vmin) {
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

// Feeds `bytes` `piece` bytes at a time and patches a temporary copy; returns the copy's bytes.
std::string patched(const std::string& bytes, size_t piece, bool* ok, std::string* why = nullptr) {
  char path[] = "/tmp/ferry-archive-XXXXXX";
  int fd = mkstemp(path);
  EXPECT_EQ(write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  ArchiveOffsets o;
  for (size_t i = 0; i < bytes.size(); i += piece) o.feed(bytes.data() + i, std::min(piece, bytes.size() - i));
  *ok = o.patch(fd);
  if (why) *why = o.why();
  std::string out(bytes.size(), '\0');
  EXPECT_EQ(pread(fd, out.data(), out.size(), 0), static_cast<ssize_t>(out.size()));
  close(fd);
  unlink(path);
  return out;
}

}  // namespace

TEST(ArchiveOffsets, EachDataEntryGetsItsBlocksPositionInEveryVersionItKnows) {
  for (int vmin : {12, 13, 14})
    for (size_t piece : {size_t{1}, size_t{3}, size_t{7}, size_t{4096}}) {
      Archive a = make(vmin);
      bool ok = false;
      std::string why;
      std::string out = patched(a.bytes, piece, &ok, &why);
      ASSERT_TRUE(ok) << "1." << vmin << " in pieces of " << piece << ": " << why;
      for (int e = 0; e < 3; ++e) {
        int flag = 0;
        EXPECT_EQ(field_value(out, a.fields[e], &flag), a.blocks[e]) << "entry " << e + 1;
        EXPECT_EQ(flag, 2);
      }
      int flag = 0;
      EXPECT_EQ(field_value(out, a.fields[3], &flag), 0);  // no data: untouched
      EXPECT_EQ(flag, 3);
      // nothing else changed
      std::string back = out;
      for (int e = 0; e < 3; ++e) back.replace(a.fields[e], 9, a.bytes.substr(a.fields[e], 9));
      EXPECT_EQ(back, a.bytes);
    }
}

TEST(ArchiveOffsets, AStreamItCannotVouchForIsLeftAsItIs) {
  Archive a = make(14);
  auto left_alone = [&](const std::string& bytes, const std::string& expect_why) {
    bool ok = true;
    std::string why;
    EXPECT_EQ(patched(bytes, 5, &ok, &why), bytes);
    EXPECT_FALSE(ok);
    EXPECT_EQ(why, expect_why);
  };
  left_alone(a.bytes.substr(0, a.bytes.size() - 1), "the archive ends inside a block");
  left_alone(a.bytes.substr(0, static_cast<size_t>(a.blocks[1])), "no block for dump ID 2");
  left_alone(a.bytes + std::string("\x01\x00\x09\x00\x00\x00", 6), "a block for dump ID 9 with no entry");
  left_alone(a.bytes + std::string("\x01\x00\x04\x00\x00\x00", 6), "a block for an entry without data");
  left_alone(a.bytes + std::string("\x01\x00\x01\x00\x00\x00", 6), "two blocks of one dump ID");
  left_alone(a.bytes + "\x02", "a block of type 2");
  std::string v15 = a.bytes;
  v15[6] = 15;
  left_alone(v15, "archive version 1.15 (known: 1.12-1.14)");
  std::string int8 = a.bytes;
  int8[8] = 8;
  left_alone(int8, "integers of other sizes than pg_dump's 4 and 8 bytes");
  std::string dir = a.bytes;
  dir[10] = 5;
  left_alone(dir, "not the custom format");
  left_alone("PGDMX" + a.bytes.substr(5), "not a pg_dump archive");
}
