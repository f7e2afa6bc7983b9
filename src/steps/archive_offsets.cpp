#include "steps/archive_offsets.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

namespace ferry::steps::detail {

namespace {

constexpr int k_blk_data = 1, k_blk_blobs = 3;                 // pg_backup_archiver.h
constexpr int k_pos_not_set = 1, k_pos_set = 2, k_no_data = 3;  // offset flags
constexpr size_t k_max_toc = 256u << 20;                       // a TOC larger than this: no patch
constexpr size_t k_merge = 64u << 10;                          // a merged chunk: 64 KiB at most
constexpr size_t k_buffer = 1u << 20;                          // output written 1 MiB at a time

// pg_dump's integer: a sign byte, then `size` bytes, low byte first (ReadInt).
long long decode_int(const unsigned char* b, int size) {
  unsigned long long v = 0;
  for (int i = 0; i < size; ++i) v |= static_cast<unsigned long long>(b[1 + i]) << (8 * i);
  return b[0] ? -static_cast<long long>(v) : static_cast<long long>(v);
}

// `size` bytes of `v`, low byte first: an integer's value (after its sign byte), an offset.
void encode_le(char* out, unsigned long long v, int size) {
  for (int i = 0; i < size; ++i) out[i] = static_cast<char>((v >> (8 * i)) & 0xff);
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

// The buffer: 1 MiB, a merged chunk opened near its end, and one more length (unmerge_cut_chunk).
ArchiveOffsets::ArchiveOffsets(Sink out, size_t first_try)
    : m_out(std::move(out)), m_buf(k_buffer + k_merge + 32), m_next_try(first_try) {}

void ArchiveOffsets::fail(const std::string& why) {
  if (m_state == State::Toc) emit(m_head.data(), m_head.size());  // passed on as it came
  m_state = State::Bad;
  m_why = why;
  m_head.clear();
  m_head.shrink_to_fit();
}

void ArchiveOffsets::emit(const char* data, size_t len) {
  m_out_pos += static_cast<long long>(len);
  if (m_buf_len + len > k_buffer) flush();
  if (len > k_buffer) return m_out(data, len);
  std::memcpy(m_buf.data() + m_buf_len, data, len);
  m_buf_len += len;
}

void ArchiveOffsets::flush() {
  if (m_buf_len > 0) m_out(m_buf.data(), m_buf_len);
  m_buf_len = 0;
}

void ArchiveOffsets::open_merge() {
  if (m_buf_len > k_buffer) flush();  // room: its length, k_merge bytes, one more length
  m_merge_at = m_buf_len;
  m_buf_len += 1 + static_cast<size_t>(m_int_size);  // the length, written at close_merge()
  m_out_pos += 1 + m_int_size;
  m_merge_len = 0;
}

void ArchiveOffsets::merge(const char* data, size_t len) {
  std::memcpy(m_buf.data() + m_buf_len, data, len);
  m_buf_len += len;
  m_out_pos += static_cast<long long>(len);
  m_merge_len += static_cast<long long>(len);
}

void ArchiveOffsets::close_merge() {
  if (m_merge_len < 0) return;
  char* b = m_buf.data() + m_merge_at;
  b[0] = 0;  // pg_dump's integer: sign byte, then its value
  encode_le(b + 1, static_cast<unsigned long long>(m_merge_len), m_int_size);
  m_merge_len = -1;
  ++m_chunks_out;
}

// The stream ended inside a chunk that was being merged: that chunk is passed on as it came,
// its own length before its bytes, the merged chunk closed before it (no allocation: the
// buffer has room for one more length).
void ArchiveOffsets::unmerge_cut_chunk() {
  size_t have = static_cast<size_t>(m_chunk_len - m_skip);
  size_t len_bytes = m_int.size();  // the chunk's own length, as it came
  char* at = m_buf.data() + m_buf_len - have;
  m_merge_len -= static_cast<long long>(have);
  if (m_merge_len == 0) {  // it opened the merged chunk: its length goes where that one's was
    std::memcpy(at - len_bytes, m_int.data(), len_bytes);
    m_merge_len = -1;
    ++m_chunks_out;
    return;
  }
  std::memmove(at + len_bytes, at, have);
  std::memcpy(at, m_int.data(), len_bytes);
  m_buf_len += len_bytes;
  m_out_pos += static_cast<long long>(len_bytes);
  close_merge();
  ++m_chunks_out;
}

void ArchiveOffsets::feed(const char* data, size_t len) {
  if (len == 0) return;
  if (m_state == State::Bad) return emit(data, len);
  if (m_state != State::Toc) return step(data, len);
  try {
    m_head.append(data, len);
  } catch (const std::exception& e) {  // no memory: the archive is passed on as it is
    fail(std::string("reading the archive: ") + e.what());
    return emit(data, len);
  }
  try {
    read_head();
  } catch (const std::exception& e) {  // the TOC's entries: no memory
    fail(std::string("reading the archive: ") + e.what());
  }
}

void ArchiveOffsets::read_head() {
  if (m_head.size() >= m_next_try || m_head.size() >= k_max_toc) try_toc();
  if (m_state == State::Toc && m_head.size() >= k_max_toc) fail("its table of contents is over 256 MB");
}

void ArchiveOffsets::finish() {
  if (m_state == State::Toc) {
    try {
      try_toc();
    } catch (const std::exception& e) {
      fail(std::string("reading the archive: ") + e.what());
    }
  }
  if (m_state == State::Toc) fail("the archive ends inside its table of contents");
  if (m_state == State::ChunkSkip && m_to_merge) unmerge_cut_chunk();
  close_merge();
  if (m_state != State::Bad && m_int.size() < static_cast<size_t>(m_int_size) + 1)
    emit(m_int.data(), m_int.size());  // an integer cut short: passed on (patch() refuses)
  flush();
}

// Parses the header and TOC once enough bytes are there; then the data after them.
void ArchiveOffsets::try_toc() {
  Cursor c(m_head);
  std::map<int, Entry> entries;
  long long compression = 0;
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
    compression = c.integer();                  // compression level
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
  m_mergeable = compression == 0;
  m_entries = std::move(entries);
  m_state = State::BlockType;
  std::string head = std::move(m_head);
  m_head = std::string();
  emit(head.data(), c.pos());  // the header and TOC as they are (patch() writes into them)
  step(head.data() + c.pos(), head.size() - c.pos());
}

// An integer of the data section (sign byte + m_int_size bytes), possibly split across feeds.
// Its bytes stay in m_int until the next one starts.
bool ArchiveOffsets::take_int(const char*& p, const char* end, long long& value) {
  if (m_int.size() == static_cast<size_t>(m_int_size) + 1) m_int.clear();
  size_t need = static_cast<size_t>(m_int_size) + 1 - m_int.size();
  size_t n = std::min(need, static_cast<size_t>(end - p));
  m_int.append(p, n);
  p += n;
  if (m_int.size() < static_cast<size_t>(m_int_size) + 1) return false;
  value = decode_int(reinterpret_cast<const unsigned char*>(m_int.data()), m_int_size);
  return true;
}

// A chunk's length, just read (its bytes in m_int). Returns false after a failure.
bool ArchiveOffsets::chunk_length(long long v) {
  bool merging = m_mergeable && m_block_type == k_blk_data;
  if (merging && v > 0) ++m_chunks_in;
  if (merging && v > 0 && static_cast<size_t>(v) <= k_merge) {  // its bytes go into a merged chunk
    if (m_merge_len >= 0 && m_merge_len + v > static_cast<long long>(k_merge)) close_merge();
    if (m_merge_len < 0) open_merge();
    m_to_merge = true;
  } else {
    close_merge();
    emit(m_int.data(), m_int.size());
    m_to_merge = false;
    if (merging && v > 0) ++m_chunks_out;
  }
  if (v < 0) return fail("a negative chunk length"), false;
  m_skip = m_chunk_len = v;
  m_state = v > 0 ? State::ChunkSkip : m_in_blob ? State::BlobOid : State::BlockType;
  return true;
}

// The data section: blocks of [type][dump ID][chunks: length, bytes; 0 ends], a large-object
// block holding [oid][chunks] per object, 0 ending it. Every byte read is passed on (a chunk's
// length when its chunk is not merged); after a failure, the rest as it is.
void ArchiveOffsets::step(const char* data, size_t len) {
  const char* p = data;
  const char* end = data + len;
  try {
    step_from(p, end);
  } catch (const std::exception&) {  // a failure's message, no memory: the rest as it is
    close_merge();
    m_state = State::Bad;
    m_why.clear();  // unpatchable() says so
  }
  if (m_state == State::Bad && p < end) emit(p, static_cast<size_t>(end - p));
}

// The bytes from `p` on, `p` advanced past those passed on (or merged).
void ArchiveOffsets::step_from(const char*& p, const char* end) {
  long long v = 0;
  while (p < end && m_state != State::Bad) {
    switch (m_state) {
      case State::BlockType: {
        long long pos = m_out_pos;
        m_block_type = static_cast<unsigned char>(*p);
        emit(p++, 1);
        if (m_block_type != k_blk_data && m_block_type != k_blk_blobs) {
          fail("a block of type " + std::to_string(m_block_type));
          break;
        }
        m_block_pos_out = pos;
        m_state = State::BlockId;
        break;
      }
      case State::BlockId: {
        if (!take_int(p, end, v)) break;
        emit(m_int.data(), m_int.size());
        m_block_id = static_cast<int>(v);
        auto e = m_entries.find(m_block_id);
        if (e == m_entries.end()) {
          fail("a block for dump ID " + std::to_string(m_block_id) + " with no entry");
          break;
        }
        if (e->second.flag == k_no_data) {
          fail("a block for an entry without data");
          break;
        }
        if (e->second.block_pos >= 0) {
          fail("two blocks of one dump ID");
          break;
        }
        e->second.block_pos = m_block_pos_out;
        ++m_blocks;
        m_in_blob = false;
        m_state = m_block_type == k_blk_data ? State::ChunkLen : State::BlobOid;
        break;
      }
      case State::BlobOid:
        if (!take_int(p, end, v)) break;
        emit(m_int.data(), m_int.size());
        m_in_blob = v != 0;
        m_state = v == 0 ? State::BlockType : State::ChunkLen;
        break;
      case State::ChunkLen:
        if (!take_int(p, end, v)) break;
        chunk_length(v);
        break;
      case State::ChunkSkip: {
        size_t n = static_cast<size_t>(std::min<long long>(m_skip, end - p));
        if (m_to_merge) merge(p, n);
        else emit(p, n);
        p += n;
        m_skip -= static_cast<long long>(n);
        if (m_skip == 0) m_state = State::ChunkLen;
        break;
      }
      default:
        return;
    }
  }
}

// A pwrite's result: false (and the error kept) unless all `want` bytes were written.
bool ArchiveOffsets::wrote(ssize_t r, size_t want) {
  if (r == static_cast<ssize_t>(want)) return true;
  m_write_errno = r < 0 ? errno : EIO;  // a short write has no errno of its own
  fail(std::string("writing the offsets: ") + std::strerror(m_write_errno));
  return false;
}

// Why the output's positions cannot be written, or "".
std::string ArchiveOffsets::unpatchable() const {
  if (m_state == State::Bad) return m_why.empty() ? "reading the archive: out of memory" : m_why;
  bool int_whole = m_int.empty() || m_int.size() == static_cast<size_t>(m_int_size) + 1;
  if (m_state != State::BlockType || !int_whole) return "the archive ends inside a block";
  for (const auto& [id, e] : m_entries)
    if (e.flag != k_no_data && e.block_pos < 0) return "no block for dump ID " + std::to_string(id);
  return "";
}

bool ArchiveOffsets::patch(int fd) try {
  if (m_state == State::Toc) fail("the archive ends inside its table of contents");
  std::string why = unpatchable();
  bool moved = m_chunks_out < m_chunks_in;  // merged chunks: positions pg_dump wrote are stale
  bool any = false;
  for (const auto& [id, e] : m_entries) {
    if (e.flag == k_no_data) continue;
    any = true;
    // Its flag "not set" first, its position, then "set": a write cut short leaves "not set"
    // (pg_restore then ignores the bytes) rather than a wrong position.
    char unset = static_cast<char>(k_pos_not_set), set = static_cast<char>(k_pos_set);
    if (e.flag == k_pos_set && (moved || why.empty()) && !wrote(::pwrite(fd, &unset, 1, e.field_pos), 1))
      return false;
    if (!why.empty()) continue;
    char pos[8];
    encode_le(pos, static_cast<unsigned long long>(e.block_pos), sizeof pos);
    if (!wrote(::pwrite(fd, pos, sizeof pos, e.field_pos + 1), sizeof pos) || !wrote(::pwrite(fd, &set, 1, e.field_pos), 1))
      return false;
  }
  if (!why.empty()) return fail(why), false;
  if (!any) return fail("no table data"), false;
  return true;
} catch (const std::exception& e) {
  return fail(std::string("reading the archive: ") + e.what()), false;
}

}  // namespace ferry::steps::detail
