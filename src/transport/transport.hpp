// Running a command somewhere. An interface because it crosses a process (and, for ssh and
// docker, a network or container) boundary.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/duration.hpp"
#include "core/error.hpp"

namespace ferry::transport {

struct Command {
  // The program and its arguments. Never pasted into a shell: a transport that needs a shell
  // (ssh, docker exec) quotes every word with shell_quote.
  std::vector<std::string> argv;
  // Extra environment for the process. Where secrets go (PGPASSWORD): never into argv.
  std::map<std::string, std::string> env;
  std::string stdin_data;
  // A pipe's read end to stream into the command's stdin after stdin_data (-1: none). The
  // transport owns it from the call on and closes it once it no longer needs it, so a writer
  // on the other end sees EPIPE when the command is gone.
  int stdin_fd = -1;
  std::optional<Millis> timeout;
  std::string cwd;  // "" = inherit
  // Called about every 200 ms while the command runs (progress reporting).
  std::function<void()> on_tick;
  // Polled while the command runs; true stops it (SIGTERM to its process group locally; over
  // ssh the channel is closed, which waits for the command's own end; docker and kubectl exec
  // end the local client only). The result then has `stopped` set.
  std::function<bool()> should_stop;
  // Local only: after a stop, SIGKILL to the process group when the command is still running
  // this long after the SIGTERM, so a command that ignores SIGTERM is not waited for without
  // end. Unset: waited for (a fleet member rolling back after its SIGTERM must never be killed).
  std::optional<Millis> kill_after_stop;
  // Local only: SIGINT and SIGTERM stay blocked across exec, so a stop sent before the program
  // installed its handlers waits for them instead of killing it half-started. For ferry's own
  // children (fleet members): install_signal_handlers() unblocks them.
  bool defer_stop_signals = false;

  // `sh -c SCRIPT`: for commands users write in YAML, which are shell by nature.
  static Command shell(const std::string& script) {
    Command c;
    c.argv = {"/bin/sh", "-c", script};
    return c;
  }
};

struct CommandResult {
  int exit_code = 0;  // 128+N when killed by signal N
  bool timed_out = false;
  bool stopped = false;
  bool killed_after_stop = false;  // it outlived Command::kill_after_stop and got SIGKILL
  std::string out;  // stdout unless streamed to a sink
  std::string err;
  bool ok() const { return exit_code == 0 && !timed_out; }
  // The last non-empty line of stderr (or stdout), for messages.
  std::string last_line() const;
  // The lines of stderr (or stdout) that carry the error: a Python traceback's exception line,
  // else the lines naming an error (error, Error, ERROR, FATAL, fatal:), else the last 3.
  std::string error_lines() const;
  // All of stderr (or stdout), bounded: the first and last 100 lines, "... N lines omitted ...".
  std::string bounded_output() const;
  // For a failure message: error_lines(), then k_full_output_marker and bounded_output() when
  // that has more to say. "" when the command printed nothing.
  std::string failure_text() const;
};

// Receives stdout in chunks instead of buffering it (backups stream through this).
using OutputSink = std::function<void(const char* data, size_t len)>;

// What Ansible's connection plugins offer: run, put/fetch a file, list/remove within a
// directory, a description, and the command line of a tool run inside the connection. Only
// run() and describe() must be per transport; the file operations (transport/files.cpp) are small
// sh scripts given their paths as arguments ("$1"), so every transport gets them through run().
// LocalTransport does them in-process instead (transport/local_files.cpp): no process per file.
class Transport {
 public:
  virtual ~Transport() = default;
  // Runs the command. A non-zero exit is data, in the result; being unable to start it or to
  // reach the place throws Error(Transport).
  virtual CommandResult run(const Command& cmd, const OutputSink& out = nullptr) = 0;
  // For messages: "local", "ssh deploy@db1:22", "docker exec app via ssh ...".
  virtual std::string describe() const = 0;

  // The transport whose shell runs command_line()'s words (docker, kubectl: where the engine's
  // CLI runs); nullptr for a host itself (local, ssh).
  virtual Transport* via() { return nullptr; }
  // Words that, run by via()'s shell, run `argv` inside this connection; `env_names` are taken
  // from that shell's environment by name (values never in argv); `stdin_open`: the tool reads
  // stdin. A host returns argv unchanged. Throws Error(Config) when the connection cannot.
  virtual std::vector<std::string> command_line(const std::vector<std::string>& argv,
                                                const std::vector<std::string>& env_names, bool stdin_open) const;

  // Writes `content` to `path` (mode, e.g. 0600) through a temporary beside it and a rename:
  // a reader sees the old file or the whole new one. Throws Error(Command) on failure.
  virtual void put_file(const std::string& path, const std::string& content, int mode = 0600);
  // The same with a local file's bytes, streamed (never held whole in memory).
  virtual void put_local_file(const std::string& local_path, const std::string& path, int mode = 0600);
  // The file's bytes; throws Error(Command) when it cannot be read.
  virtual std::string fetch_file(const std::string& path);
  // Streams the file into `local_path` (created 0600, replaced).
  virtual void fetch_to_local(const std::string& path, const std::string& local_path);
  // Several files of `dir` in one round trip: name -> bytes, or nullopt when not a readable file.
  virtual std::map<std::string, std::optional<std::string>> fetch_files(const std::string& dir,
                                                                        const std::vector<std::string>& names);
  // The names (not paths) in `dir` matching the fnmatch(3) glob (dot files only when the glob
  // starts with '.'), sorted. Throws Error(Command) naming the directory when it is missing,
  // not a directory or not readable.
  virtual std::vector<std::string> list(const std::string& dir, const std::string& glob = "*");
  // Removes dir/name (recursively: a directory backup). False when it could not. `name` is one
  // entry of `dir`: '/', "..", "." and "" are refused with Error(Config) before anything runs.
  virtual bool remove(const std::string& dir, const std::string& name);
};

// Throws Error(Config) unless `name` names one entry of a directory (no '/', not "." or "..",
// no NUL, not empty).
void check_entry_name(const std::string& name);

// `program` as the local transport's exec finds it on PATH (Boost.Process's search_path);
// "" when PATH has none.
std::string find_on_path(const std::string& program);

// This machine. Its file operations are done in-process (local_files.cpp), with the same
// contracts as the scripts: a write goes to a temporary (O_EXCL, 0600) beside the target,
// fsync'd and renamed over it, so a reader sees the old file or the whole new one and a
// symlink planted at the target is replaced, never followed.
class LocalTransport : public Transport {
 public:
  CommandResult run(const Command& cmd, const OutputSink& out = nullptr) override;
  std::string describe() const override { return "local"; }
  void put_file(const std::string& path, const std::string& content, int mode = 0600) override;
  void put_local_file(const std::string& local_path, const std::string& path, int mode = 0600) override;
  std::string fetch_file(const std::string& path) override;
  void fetch_to_local(const std::string& path, const std::string& local_path) override;
  std::map<std::string, std::optional<std::string>> fetch_files(const std::string& dir,
                                                                const std::vector<std::string>& names) override;
  std::vector<std::string> list(const std::string& dir, const std::string& glob = "*") override;
  bool remove(const std::string& dir, const std::string& name) override;
};

}  // namespace ferry::transport
