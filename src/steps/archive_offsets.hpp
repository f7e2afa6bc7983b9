// ferry's decompressed copy of a pg_dump custom archive, written so that pg_restore -j reads it
// as fast as it can: the data offsets pg_dump could not write, and the rows of each table in
// large chunks.
//
// pg_dump writes its table of contents (TOC) before the data. When its output is a file, it
// seeks back at the end and writes where each table's data block starts; when its output is a
// pipe (ferry's backups: pg_dump's stdout is compressed as it comes), every data entry says
// "position not set". pg_restore -j then makes each worker read through every block before
// its table's, one seek per row of a -Z0 dump: 1.5-2 s more on bench/backup.sh's database.
// And a -Z0 dump holds each row as a chunk of its own (a length, then the row): pg_restore
// reads and sends each one as a COPY message of its own, 3.2 M of them on that database.
//
// Fed the decompressed archive's bytes in order, ArchiveOffsets passes them on to its sink
// (the unnamed file pg_restore reads), but:
//   - in the data block of an uncompressed archive (-Z0), consecutive chunks of under 64 KiB
//     are merged into chunks of up to 64 KiB: the same bytes in the same order, fewer lengths.
//     COPY data is a stream (pg_restore sends each chunk as it comes, the chunks of a zlib
//     archive end anywhere), so the rows restored are the same; bench/README.md measures the
//     cut (6-7% of the restore, a third of pg_restore's own CPU);
//   - patch() then writes each data block's position in that output into the TOC, exactly as
//     pg_dump would have (flag "set" + offSize bytes, low byte first).
// The backup file itself is never changed.
//
// Archive versions 1.12-1.14 (pg_dump 9.0-15; 4-byte integers, 8-byte offsets) are understood.
// Anything else (another version, not the custom format, integers of other sizes, a TOC over
// 256 MB) is passed on byte for byte and not patched. An inconsistency found in the data (a
// block with no TOC entry or for an entry without data, two blocks of one entry, a block of an
// unknown type, a negative length) passes the rest on byte for byte from there, and an entry
// with no block or a truncated stream means no patch: pg_restore then reads the archive
// sequentially, as pg_dump wrote it but for merged chunks (the same data). Memory: the TOC
// while it is read, then its entries, and a 1 MiB output buffer.
#pragma once
#include <sys/types.h>

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace ferry::steps::detail {

class ArchiveOffsets {
 public:
  using Sink = std::function<void(const char* data, size_t len)>;
  // `first_try`: how many bytes are read before the TOC is first parsed (tests: small).
  explicit ArchiveOffsets(Sink out, size_t first_try = 64 * 1024);
  // The archive's next bytes; what is ready reaches the sink (buffered: 1 MiB at a time).
  void feed(const char* data, size_t len);
  // The end of the archive: everything held back reaches the sink.
  void finish();
  // Writes each data block's position into the output, open at `fd` (everything the sink got,
  // after finish()), over any pg_dump wrote. False when it cannot (why() says which): the
  // positions are then left unset, and those pg_dump had set are unset if chunks were merged.
  bool patch(int fd);
  const std::string& why() const { return m_why; }
  // patch() could not write into the output (errno): positions pg_dump set may be stale there,
  // so that output must not be restored.
  int write_errno() const { return m_write_errno; }
  size_t blocks() const { return m_blocks; }
  long long chunks_in() const { return m_chunks_in; }    // data chunks read in merged blocks
  long long chunks_out() const { return m_chunks_out; }  // the chunks they became

 private:
  enum class State { Toc, BlockType, BlockId, ChunkLen, ChunkSkip, BlobOid, Bad };
  struct Entry {
    long long field_pos;      // where its offset field starts
    int flag;                 // 1: not set, 2: set, 3: no data
    long long block_pos = -1;  // where its data block starts in the output, once seen
  };
  void read_head();  // the TOC, once enough of it is there
  void try_toc();
  void step(const char* data, size_t len);
  void step_from(const char*& p, const char* end);
  void unmerge_cut_chunk();
  bool wrote(ssize_t r, size_t want);
  bool chunk_length(long long v);
  bool take_int(const char*& p, const char* end, long long& value);
  void fail(const std::string& why);
  std::string unpatchable() const;
  // The output: emit() passes bytes on; a merged chunk is built in the buffer itself, its
  // length written when it closes (the buffer is not flushed while one is open).
  void emit(const char* data, size_t len);
  void open_merge();
  void merge(const char* data, size_t len);
  void close_merge();
  void flush();

  Sink m_out;
  std::vector<char> m_buf;
  size_t m_buf_len = 0;
  long long m_out_pos = 0;        // bytes emitted so far (buffered or not)
  size_t m_merge_at = 0;          // where the open merged chunk's length goes
  long long m_merge_len = -1;     // its bytes so far; -1: none open
  State m_state = State::Toc;
  std::string m_head;  // the bytes until the TOC is read whole
  size_t m_next_try;
  int m_int_size = 0;
  bool m_mergeable = false;  // an uncompressed archive
  std::map<int, Entry> m_entries;  // by dump ID
  size_t m_blocks = 0;             // data blocks seen
  std::string m_int;               // the bytes of an integer split across feeds
  int m_block_type = 0, m_block_id = 0;
  long long m_block_pos_out = 0, m_skip = 0, m_chunk_len = 0;
  int m_write_errno = 0;
  bool m_in_blob = false, m_to_merge = false;
  long long m_chunks_in = 0, m_chunks_out = 0;
  std::string m_why;
};

}  // namespace ferry::steps::detail
