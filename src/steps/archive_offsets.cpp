#include "steps/archive_offsets.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace ferry::steps::detail {

namespace {

constexpr int k_blk_data = 1, k_blk_blobs = 3;                 // pg_backup_archiver.h
constexpr int k_pos_not_set = 1, k_pos_set = 2, k_no_data = 3;  // offset flags
constexpr size_t k_max_toc = 256u << 20;                       // a TOC larger than this: no patch

// pg_dump's integer: a sign byte, then `size` bytes, low byte first (ReadInt).
long long decode_int(const unsigned char* b, int size) {
  unsigned long long v = 0;
  for (int i = 0; i < size; ++i) v |= static_cast<unsigned long long>(b[1 + i]) << (8 * i);
  return b[0] ? -static_cast<long long>(v) : static_cast<long long>(v);
}

struct NeedMore {};
struct Malformed {
  std::string why;
};

// Reads the archive's header and TOC as pg_restore's ReadHead/ReadToc do (versions 1.12-1.14).
class Cursor {
 public:
  explicit Cursor(const std::string& s) : m_s(s) {}
  size_t pos() const { return m_pos; }
  int byte() {
    if (m_pos >= m_s.size()) throw NeedMore{};
    return static_cast<unsigned char>(m_s[m_pos++]);
  }
  void bytes(size_t n) {
    if (m_s.size() - m_pos < n) throw NeedMore{};
    m_pos += n;
  }
  long long integer() {
    size_t at = m_pos;
    bytes(1 + static_cast<size_t>(int_size));
    return decode_int(reinterpret_cast<const unsigned char*>(m_s.data() + at), int_size);
  }
  // A string: its length (-1: NULL), then its bytes. Returns false for NULL.
  bool string() {
    long long len = integer();
    if (len < 0) return false;
    if (static_cast<unsigned long long>(len) > k_max_toc) throw Malformed{"a string longer than the archive"};
    bytes(static_cast<size_t>(len));
    return true;
  }
  int int_size = 4;

 private:
  const std::string& m_s;
  size_t m_pos = 0;
};

}  // namespace

void ArchiveOffsets::fail(const std::string& why) {
  m_state = State::Bad;
  m_why = why;
  m_head.clear();
  m_head.shrink_to_fit();
}

void ArchiveOffsets::feed(const char* data, size_t len) {
  if (m_state == State::Bad || len == 0) return;
  try {
    feed_unchecked(data, len);
  } catch (const std::exception& e) {  // no memory: the restore goes on without the offsets
    fail(std::string("reading the archive: ") + e.what());
  }
}

void ArchiveOffsets::feed_unchecked(const char* data, size_t len) {
  long long base = m_fed;
  m_fed += static_cast<long long>(len);
  if (m_state != State::Toc) return step(data, len, base);
  m_head.append(data, len);
  if (m_head.size() >= m_next_try || m_head.size() >= k_max_toc) try_toc();
  if (m_state == State::Toc && m_head.size() >= k_max_toc) fail("its table of contents is over 256 MB");
}

// Parses the header and TOC once enough bytes are there; then the data after them.
void ArchiveOffsets::try_toc() {
  Cursor c(m_head);
  std::map<int, Entry> entries;
  try {
    c.bytes(5);
    if (m_head.compare(0, 5, "PGDMP") != 0) return fail("not a pg_dump archive");
    int vmaj = c.byte(), vmin = c.byte();
    c.byte();
    if (vmaj != 1 || vmin < 12 || vmin > 14)
      return fail("archive version " + std::to_string(vmaj) + "." + std::to_string(vmin) + " (known: 1.12-1.14)");
    c.int_size = c.byte();
    int off_size = c.byte();
    if (c.int_size != 4 || off_size != 8) return fail("integers of other sizes than pg_dump's 4 and 8 bytes");
    if (c.byte() != 1) return fail("not the custom format");
    c.integer();                                // compression level
    for (int i = 0; i < 7; ++i) c.integer();    // the date
    for (int i = 0; i < 3; ++i) c.string();     // database, server and pg_dump versions
    long long count = c.integer();
    if (count < 0) return fail("a negative TOC count");
    for (long long i = 0; i < count; ++i) {
      int id = static_cast<int>(c.integer());
      c.integer();                              // hadDumper
      for (int s = 0; s < 4; ++s) c.string();   // tableoid, oid, tag, desc
      c.integer();                              // section
      for (int s = 0; s < 5; ++s) c.string();   // defn, dropStmt, copyStmt, namespace, tablespace
      if (vmin >= 14) c.string();               // tableam
      c.string();                               // owner
      c.string();                               // "false" (WITH OIDS)
      while (c.string()) {                      // dependencies, ended by NULL
      }
      long long field = static_cast<long long>(c.pos());
      int flag = c.byte();
      c.bytes(static_cast<size_t>(off_size));
      if (flag != k_pos_not_set && flag != k_pos_set && flag != k_no_data) return fail("an unknown offset flag");
      if (!entries.emplace(id, Entry{field, flag}).second) return fail("dump ID " + std::to_string(id) + " twice");
    }
  } catch (const NeedMore&) {
    m_next_try = std::min(m_head.size() * 2, k_max_toc);
    return;
  } catch (const Malformed& m) {
    return fail(m.why);
  }
  m_int_size = c.int_size;
  m_entries = std::move(entries);
  m_state = State::BlockType;
  std::string head = std::move(m_head);
  m_head = std::string();
  step(head.data() + c.pos(), head.size() - c.pos(), static_cast<long long>(c.pos()));
}

// An integer of the data section (sign byte + m_int_size bytes), possibly split across feeds.
bool ArchiveOffsets::take_int(const char*& p, const char* end, long long& value) {
  size_t need = static_cast<size_t>(m_int_size) + 1 - m_int.size();
  size_t n = std::min(need, static_cast<size_t>(end - p));
  m_int.append(p, n);
  p += n;
  if (m_int.size() < static_cast<size_t>(m_int_size) + 1) return false;
  value = decode_int(reinterpret_cast<const unsigned char*>(m_int.data()), m_int_size);
  m_int.clear();
  return true;
}

// The data section: blocks of [type][dump ID][chunks: length, bytes; 0 ends], a large-object
// block holding [oid][chunks] per object, 0 ending it.
void ArchiveOffsets::step(const char* data, size_t len, long long base) {
  const char* p = data;
  const char* end = data + len;
  long long v = 0;
  while (p < end && m_state != State::Bad) {
    switch (m_state) {
      case State::BlockType:
        m_block_pos = base + (p - data);
        m_block_type = static_cast<unsigned char>(*p++);
        if (m_block_type != k_blk_data && m_block_type != k_blk_blobs)
          return fail("a block of type " + std::to_string(m_block_type));
        m_state = State::BlockId;
        break;
      case State::BlockId: {
        if (!take_int(p, end, v)) break;
        m_block_id = static_cast<int>(v);
        auto e = m_entries.find(m_block_id);
        if (e == m_entries.end()) return fail("a block for dump ID " + std::to_string(m_block_id) + " with no entry");
        if (e->second.flag == k_no_data) return fail("a block for an entry without data");
        if (e->second.block_pos >= 0) return fail("two blocks of one dump ID");
        e->second.block_pos = m_block_pos;
        ++m_blocks;
        m_in_blob = false;
        m_state = m_block_type == k_blk_data ? State::ChunkLen : State::BlobOid;
        break;
      }
      case State::BlobOid:
        if (!take_int(p, end, v)) break;
        m_in_blob = v != 0;
        m_state = v == 0 ? State::BlockType : State::ChunkLen;
        break;
      case State::ChunkLen:
        if (!take_int(p, end, v)) break;
        if (v < 0) return fail("a negative chunk length");
        m_skip = v;
        m_state = v > 0 ? State::ChunkSkip : m_in_blob ? State::BlobOid : State::BlockType;
        break;
      case State::ChunkSkip: {
        long long n = std::min<long long>(m_skip, end - p);
        p += n;
        m_skip -= n;
        if (m_skip == 0) m_state = State::ChunkLen;
        break;
      }
      default:
        return;
    }
  }
}

bool ArchiveOffsets::patch(int fd) try {
  if (m_state == State::Toc) try_toc();
  if (m_state == State::Toc) fail("the archive ends inside its table of contents");
  if (m_state == State::Bad) return false;
  if (m_state != State::BlockType || !m_int.empty()) return fail("the archive ends inside a block"), false;
  std::vector<const Entry*> unset;
  for (const auto& [id, e] : m_entries) {
    if (e.flag != k_pos_not_set) continue;
    if (e.block_pos < 0) return fail("no block for dump ID " + std::to_string(id)), false;
    unset.push_back(&e);
  }
  if (unset.empty()) return fail("no offset to set"), false;
  // Each field: its offset bytes first, its flag last, so that a write cut short leaves the
  // flag "not set" (pg_restore then ignores the bytes) rather than a wrong position.
  for (const Entry* e : unset) {
    char pos[8];
    for (int i = 0; i < 8; ++i) pos[i] = static_cast<char>((static_cast<unsigned long long>(e->block_pos) >> (8 * i)) & 0xff);
    char flag = static_cast<char>(k_pos_set);
    if (::pwrite(fd, pos, sizeof pos, e->field_pos + 1) != static_cast<ssize_t>(sizeof pos) ||
        ::pwrite(fd, &flag, 1, e->field_pos) != 1)
      return fail(std::string("writing the offsets: ") + std::strerror(errno)), false;
  }
  return true;
} catch (const std::exception& e) {
  return fail(std::string("reading the archive: ") + e.what()), false;
}

}  // namespace ferry::steps::detail
