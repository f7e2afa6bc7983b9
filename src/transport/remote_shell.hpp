// A command for a remote shell (ssh, kubectl exec): one sh script that takes the environment
// from the head of stdin (base64 lines, never argv), goes to the working directory, bounds the
// time with `timeout -s KILL` and execs the command with the rest of stdin.
#pragma once
#include <string>

#include "transport/transport.hpp"

namespace ferry::transport {

// The shell text for `cmd` (its argv shell_quote'd word by word).
std::string remote_command(const Command& cmd);
// What goes to the remote stdin before cmd.stdin_data/stdin_fd: one base64 line per env value.
std::string remote_input(const Command& cmd);
std::string base64(const unsigned char* data, size_t len);

}  // namespace ferry::transport
