#include "transport/remote_shell.hpp"

#include <openssl/evp.h>

#include "core/text.hpp"

namespace ferry::transport {

std::string base64(const unsigned char* data, size_t len) {
  std::string out(4 * ((len + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(len));
  out.resize(static_cast<size_t>(n));
  return out;
}

namespace {
// A value without a newline travels as its own line and is read as it is (no process); one with
// a newline as a base64 line, decoded by base64 -d (a process per such value).
bool as_line(const std::string& v) { return v.find('\n') == std::string::npos; }
}  // namespace

std::string remote_script(const Command& cmd) {
  // Environment values (secrets) travel as lines at the head of stdin; the remote shell reads
  // them into its environment, then execs the command with the rest of stdin.
  std::string prefix;
  for (const auto& [k, v] : cmd.env) {
    if (as_line(v))
      prefix += "IFS= read -r " + k + " && export " + k + " && ";
    else
      prefix += "IFS= read -r __ferry_v && " + k + "=$(printf %s \"$__ferry_v\" | base64 -d) && export " + k + " && ";
  }
  std::string body = shell_join(cmd.argv);
  if (cmd.timeout) body = "timeout -s KILL " + std::to_string((cmd.timeout->count() + 999) / 1000) + " " + body;
  std::string cd = cmd.cwd.empty() ? "" : "cd " + shell_quote(cmd.cwd) + " && ";
  if (prefix.empty()) return cd + body;
  return prefix + "unset __ferry_v && " + cd + "exec " + body;
}

std::string remote_command(const Command& cmd) {
  std::string script = remote_script(cmd);
  return cmd.env.empty() ? script : "sh -c " + shell_quote(script);
}

std::string remote_input(const Command& cmd) {
  std::string input;
  for (const auto& [k, v] : cmd.env)
    input += (as_line(v) ? v : base64(reinterpret_cast<const unsigned char*>(v.data()), v.size())) + "\n";
  return input + cmd.stdin_data;
}

}  // namespace ferry::transport
