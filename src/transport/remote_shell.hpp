// A command for a remote shell (ssh, kubectl exec): one sh script that takes the environment
// from the head of stdin (never argv: a value as its own line, read without a process, or as a
// base64 line when it holds a newline), goes to the working directory, bounds the time with
// `timeout -s KILL` and execs the command with the rest of stdin.
#pragma once
#include <string>

#include "transport/transport.hpp"

namespace ferry::transport {

// The POSIX sh script for `cmd` (its argv shell_quote'd word by word), for `sh -c SCRIPT`.
std::string remote_script(const Command& cmd);
// The same for a login shell of any kind (ssh): `sh -c 'SCRIPT'` when it reads the environment.
std::string remote_command(const Command& cmd);
// What goes to the remote stdin before cmd.stdin_data/stdin_fd: one line per env value.
std::string remote_input(const Command& cmd);
std::string base64(const unsigned char* data, size_t len);

}  // namespace ferry::transport
