#include "steps/restore_unpack.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <memory>
#include <filesystem>
#include <mutex>
#include <thread>

#include "compress/zstd.hpp"
#include "core/error.hpp"
#include "core/fd_io.hpp"
#include "core/text.hpp"
#include "log/log.hpp"
#include "steps/archive_offsets.hpp"

namespace ferry::steps::detail {

namespace {

constexpr size_t k_chunk = 1 << 20;  // read 1 MiB at a time
constexpr size_t k_queued = 4;       // chunks waiting for the hash at most (memory stays flat)

// A buffer of k_chunk bytes, `size` of them read.
struct Chunk {
  std::unique_ptr<char[]> data;
  size_t size = 0;
};

// sha256 of the chunks given to it, on a thread of its own: the hash runs beside the
// decompression. Chunks are handed over (moved) and their buffers come back for reuse.
class HashThread {
 public:
  HashThread() : m_thread([this] { run(); }) {}
  ~HashThread() { finish(); }
  Chunk buffer() {
    std::lock_guard<std::mutex> lock(m_mu);
    if (m_free.empty()) return Chunk{std::make_unique<char[]>(k_chunk), 0};
    Chunk b = std::move(m_free.back());
    m_free.pop_back();
    return b;
  }
  void push(Chunk chunk) {
    std::unique_lock<std::mutex> lock(m_mu);
    m_cv.wait(lock, [&] { return m_queue.size() < k_queued; });
    m_queue.push_back(std::move(chunk));
    m_cv.notify_all();
  }
  std::string finish() {
    {
      std::lock_guard<std::mutex> lock(m_mu);
      m_done = true;
      m_cv.notify_all();
    }
    if (m_thread.joinable()) m_thread.join();
    if (m_digest.empty()) m_digest = m_sha.hex_digest();
    return m_digest;
  }

 private:
  void run() {
    for (;;) {
      Chunk chunk;
      {
        std::unique_lock<std::mutex> lock(m_mu);
        m_cv.wait(lock, [&] { return !m_queue.empty() || m_done; });
        if (m_queue.empty()) return;
        chunk = std::move(m_queue.front());
        m_queue.pop_front();
        m_cv.notify_all();
      }
      m_sha.update(chunk.data.get(), chunk.size);
      std::lock_guard<std::mutex> lock(m_mu);
      m_free.push_back(std::move(chunk));
    }
  }

  Sha256 m_sha;
  std::string m_digest;
  std::mutex m_mu;
  std::condition_variable m_cv;
  std::deque<Chunk> m_queue, m_free;
  bool m_done = false;
  std::thread m_thread;  // last: started once the members above exist
};

// Reads the next chunk of `in`: its size is 0 at the end of the file; false on a read error.
bool read_chunk(int in, Chunk& b) {
  for (;;) {
    ssize_t n = ::read(in, b.data.get(), k_chunk);
    if (n < 0 && errno == EINTR) continue;
    b.size = n > 0 ? static_cast<size_t>(n) : 0;
    return n >= 0;
  }
}

// Reads the rest of `in` into the hash (after a failed decompression: is the file damaged?).
bool hash_rest(int in, HashThread& hash) {
  for (;;) {
    Chunk b = hash.buffer();
    if (!read_chunk(in, b)) return false;
    if (b.size == 0) return true;
    hash.push(std::move(b));
  }
}

bool no_tmpfile_support(int err) { return err == EOPNOTSUPP || err == EISDIR || err == EINVAL; }

}  // namespace

UnpackedBackup::UnpackedBackup(const BackupMeta& meta) : m_meta(meta) {
  std::string dir = std::filesystem::path(meta.file).parent_path().string();
  // O_EXCL: the file can never be given a name (linkat), by ferry or anyone else.
  m_fd = UniqueFd(::open(dir.c_str(), O_TMPFILE | O_EXCL | O_RDWR | O_CLOEXEC, 0600));
  if (m_fd.get() < 0) {
    int err = errno;
    if (err == ENOENT) m_open_error = "backup file " + meta.file + " is missing";
    else if (!no_tmpfile_support(err))
      m_open_error = "cannot decompress " + meta.file + " next to it: " + std::strerror(err);
    return;
  }
  // pg_restore opens it as /proc/PID/fd/N: that path must be this very file to ferry itself
  // (a /proc not mounted, or another PID namespace's, means the script instead).
  struct stat mine {}, seen {};
  if (::fstat(m_fd.get(), &mine) != 0 || ::stat(path().c_str(), &seen) != 0 || mine.st_dev != seen.st_dev ||
      mine.st_ino != seen.st_ino)
    m_fd.reset();
}

std::string UnpackedBackup::path() const {
  return "/proc/" + std::to_string(::getpid()) + "/fd/" + std::to_string(m_fd.get());
}

UnpackFailure UnpackedBackup::unpack(const std::function<void()>& tick) {
  const std::string& f = m_meta.file;
  if (!m_open_error.empty()) return {false, m_open_error};
  UniqueFd in(::open(f.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (in.get() < 0) {
    int err = errno;
    if (err == ELOOP) return {true, "backup file " + f + " is a symbolic link; ferry restores only what is in backup.dir"};
    if (err == ENOENT) return {false, "backup file " + f + " is missing"};
    return {false, "cannot read backup file " + f + ": " + std::strerror(err)};
  }
  return decompress(in.get(), tick);
}

UnpackFailure UnpackedBackup::decompress(int in, const std::function<void()>& tick) {
  try {
    return decompress_checked(in, tick);
  } catch (const std::exception& e) {  // no thread, no memory: nothing was restored
    return {false, "cannot decompress " + m_meta.file + " next to it: " + e.what()};
  }
}

UnpackFailure UnpackedBackup::decompress_checked(int in, const std::function<void()>& tick) {
  const std::string& f = m_meta.file;
  HashThread hash;
  int write_error = 0;
  ArchiveOffsets archive([&](const char* d, size_t n) {
    if (!write_error && !write_all(m_fd.get(), d, n)) write_error = errno;
  });
  compress::ZstdDecompressor zstd([&](const char* d, size_t n) { archive.feed(d, n); });
  std::string zstd_error;
  bool read_ok = true;
  int read_errno = 0;
  Chunk b;  // read, not yet handed to the hash
  try {
    for (;;) {
      b = hash.buffer();
      if (!(read_ok = read_chunk(in, b))) read_errno = errno;
      if (!read_ok || b.size == 0) break;
      zstd.write(b.data.get(), b.size);
      hash.push(std::move(b));
      b.size = 0;
      if (write_error) break;
      tick();
    }
    if (read_ok && !write_error) {
      zstd.finish();
      archive.finish();
    }
  } catch (const Error& e) {
    zstd_error = e.what();
  }
  if (b.size > 0) hash.push(std::move(b));  // the chunk the decompression refused is hashed too
  if (!read_ok) return {false, "cannot read backup file " + f + ": " + std::strerror(read_errno)};
  if (write_error || !zstd_error.empty()) {
    // A damaged file (it does not hash to its sidecar's sha256) is told apart from a failure
    // here (a full disk): the rest of the file is hashed to know which.
    bool whole = hash_rest(in, hash);
    std::string sum = hash.finish();
    if (whole && sum != m_meta.sha256)
      return {true, "backup file " + f + " is damaged: it does not match its sha256 (found " + sum + ")"};
    std::string why = write_error ? write_error_text(write_error) : zstd_error;
    return {false, "cannot decompress " + f + " next to it: " + why};
  }
  std::string sum = hash.finish();
  if (sum != m_meta.sha256) return {true, "backup file " + f + " does not match its sha256 (found " + sum + ")"};
  if (archive.chunks_in() > 0)
    log::debug("swap restore: " + std::to_string(archive.chunks_in()) + " chunk(s) of table data merged into " +
               std::to_string(archive.chunks_out()));
  bool patched = archive.patch(m_fd.get());
  if (archive.write_errno())
    return {false, "cannot decompress " + f + " next to it: " + write_error_text(archive.write_errno())};
  if (patched)
    log::debug("swap restore: the positions of " + std::to_string(archive.blocks()) +
               " data block(s) written into the decompressed archive's table of contents");
  else
    log::debug("swap restore: the decompressed archive's data offsets are not set: " + archive.why());
  return {};
}

}  // namespace ferry::steps::detail
