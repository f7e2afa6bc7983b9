// The data offsets of a pg_dump custom archive that pg_dump wrote to a pipe.
//
// pg_dump writes its table of contents (TOC) before the data. When its output is a file, it
// seeks back at the end and writes where each table's data block starts; when its output is a
// pipe (ferry's backups: pg_dump's stdout is compressed as it comes), every data entry says
// "position not set". pg_restore -j then makes each worker read through every block before
// its table's, one seek per row of a -Z0 dump: 1.5-2 s more on bench/backup.sh's database.
// Fed the decompressed archive's bytes in order, ArchiveOffsets finds each data block and
// patch() writes the positions exactly as pg_dump would have (flag "set" + offSize bytes, low
// byte first) into ferry's decompressed copy; the backup file itself is never changed.
//
// Archive versions 1.12-1.14 (pg_dump 11-15; 4-byte integers, 8-byte offsets) are understood.
// Anything else, or any inconsistency (a block with no TOC entry or for an entry without data,
// an entry with no block, a block of an unknown type, a truncated stream, no memory), means no
// patch: pg_restore reads the archive as pg_dump wrote it. Memory: the TOC while it is read,
// then its entries.
#pragma once
#include <cstddef>
#include <map>
#include <string>
#include <vector>

namespace ferry::steps::detail {

class ArchiveOffsets {
 public:
  void feed(const char* data, size_t len);
  // Writes the offsets into the archive open at `fd` (the bytes fed). False when it cannot or
  // need not (why() says which); nothing is written then.
  bool patch(int fd);
  const std::string& why() const { return m_why; }
  size_t blocks() const { return m_blocks; }

 private:
  enum class State { Toc, BlockType, BlockId, ChunkLen, ChunkSkip, BlobOid, Bad };
  struct Entry {
    long long field_pos;      // where its offset field starts
    int flag;                 // 1: not set, 2: set, 3: no data
    long long block_pos = -1;  // where its data block starts, once seen
  };
  void feed_unchecked(const char* data, size_t len);
  void try_toc();
  void step(const char* data, size_t len, long long base);
  bool take_int(const char*& p, const char* end, long long& value);
  void fail(const std::string& why);

  State m_state = State::Toc;
  std::string m_head;  // the bytes until the TOC is read whole
  size_t m_next_try = 64 * 1024;
  long long m_fed = 0;
  int m_int_size = 0;
  std::map<int, Entry> m_entries;  // by dump ID
  size_t m_blocks = 0;             // data blocks seen
  std::string m_int;                    // the bytes of an integer split across feeds
  int m_block_type = 0, m_block_id = 0;
  long long m_block_pos = 0, m_skip = 0;
  bool m_in_blob = false;
  std::string m_why;
};

}  // namespace ferry::steps::detail
