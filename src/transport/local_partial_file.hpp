// A file ferry writes on this machine in a stream (a backup), under a partial name until it is
// whole. Created with O_EXCL | O_NOFOLLOW, mode 0600: a file or a symlink planted at the partial
// name is never written through. publish() makes it durable (fsync) and gives it its final
// name; a file never published is removed by the destructor.
#pragma once
#include <string>

namespace ferry::transport {

// mkdir -p with `mode` for the directories it creates. False (errno set) when `dir` cannot be
// made a directory.
bool make_directories(const std::string& dir, int mode);

class LocalPartialFile {
 public:
  // Throws Error(Command) "cannot write in DIR: WHY" when the partial file cannot be created.
  LocalPartialFile(const std::string& partial, const std::string& final_path);
  ~LocalPartialFile();
  LocalPartialFile(const LocalPartialFile&) = delete;
  LocalPartialFile& operator=(const LocalPartialFile&) = delete;
  // Appends; false once any write failed (error() says why; later writes do nothing).
  bool write(const char* data, size_t len);
  long long size() const { return m_size; }
  int error() const { return m_errno; }
  // fsync, close, rename to the final name (a symlink there is replaced, never followed), fsync
  // the directory.
  // Throws Error(Command) naming what failed; the partial file is removed then.
  void publish();

 private:
  std::string m_partial, m_final;
  int m_fd = -1;
  int m_errno = 0;
  long long m_size = 0;
  bool m_published = false;
};

}  // namespace ferry::transport
