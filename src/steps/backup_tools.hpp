// Which PostgreSQL client program ferry runs on this machine. Debian's /usr/bin/pg_dump,
// pg_restore and psql are one perl script (pg_wrapper) that picks a versioned binary and execs
// it, ~30 ms of CPU per start; ferry makes the same pick itself, once per process.
#pragma once
#include <string>

namespace ferry::steps::detail {

struct ClientTool {
  std::string path;  // what to run: "/usr/lib/postgresql/15/bin/pg_dump", or the name as given
  int major = 0;     // its PostgreSQL major version; 0 when the name stays for PATH to resolve
};

// The program `prog` as pg_wrapper would run it when given -h (ferry always gives -h): the
// newest installed version under `lib_root` (lib_root/N/bin/prog, executable). {prog, 0} when
// `wrapper` is false (PATH's program is the user's own: kept) or no version has it.
ClientTool pick_client_tool(const std::string& prog, bool wrapper, const std::string& lib_root);

// pick_client_tool for this machine: `wrapper` when PATH's `prog` resolves to Debian's
// pg_wrapper, lib_root /usr/lib/postgresql. Cached per program for the process.
ClientTool local_client_tool(const std::string& prog);

// Throws Error(Command) when `tool` (major known) is older than the server's major version:
// pg_dump refuses a newer server, and the message says which client to install.
void check_client_tool(const ClientTool& tool, const std::string& prog, int server_major);

}  // namespace ferry::steps::detail
