// The zstd backup file of a swap restore decompressed inside ferry, when it is kept on this
// machine (backup.on is a local connection): pg_restore -j needs a seekable archive, so the
// file is read once, its compressed bytes hashed (sha256, on a thread of its own) and
// decompressed by libzstd into an unnamed file (O_TMPFILE) in the backup's directory. The
// kernel removes that file when ferry and pg_restore are gone, however they end (a SIGKILL
// included): no decompressed copy of the database is ever left behind. pg_restore opens it as
// /proc/FERRY_PID/fd/N while ferry lives. Elsewhere (another host, no O_TMPFILE) the restore
// script decompresses with the zstd program, as before.
#pragma once
#include <functional>
#include <string>

#include "core/fd_io.hpp"
#include "steps/context.hpp"

namespace ferry::steps::detail {

// Why the file could not be used: `damaged` when it is not what its sidecar hashed (a symbolic
// link, a mismatched sha256), so that another backup may be proposed.
struct UnpackFailure {
  bool damaged = false;
  std::string message;
};

class UnpackedBackup {
 public:
  // Opens the unnamed file in the directory of meta.file; `supported()` is false when that
  // filesystem or kernel has no O_TMPFILE, or /proc/PID/fd/N does not lead to it (the caller
  // uses the script then).
  explicit UnpackedBackup(const BackupMeta& meta);
  UnpackedBackup(const UnpackedBackup&) = delete;
  UnpackedBackup& operator=(const UnpackedBackup&) = delete;

  bool supported() const { return m_fd.get() >= 0 || !m_open_error.empty(); }
  // Decompresses and checks the sha256; `tick` is called between chunks (progress). Returns the
  // failure, or an empty message when the decompressed archive is ready at path().
  UnpackFailure unpack(const std::function<void()>& tick);
  // The path pg_restore opens while this process lives: /proc/PID/fd/N.
  std::string path() const;

 private:
  UnpackFailure decompress(int in, const std::function<void()>& tick);
  UnpackFailure decompress_checked(int in, const std::function<void()>& tick);  // may throw

  const BackupMeta& m_meta;
  UniqueFd m_fd;
  std::string m_open_error;  // the unnamed file could not be made (not for lack of O_TMPFILE)
};

}  // namespace ferry::steps::detail
