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
  // Polled while the command runs; true stops it (SIGTERM to its process group locally, the
  // channel closed over ssh). The result then has `stopped` set.
  std::function<bool()> should_stop;

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

class Transport {
 public:
  virtual ~Transport() = default;
  // Runs the command. A non-zero exit is data, in the result; being unable to start it or to
  // reach the place throws Error(Transport).
  virtual CommandResult run(const Command& cmd, const OutputSink& out = nullptr) = 0;
  virtual std::string describe() const = 0;
};

class LocalTransport : public Transport {
 public:
  CommandResult run(const Command& cmd, const OutputSink& out = nullptr) override;
  std::string describe() const override { return "local"; }
};

}  // namespace ferry::transport
