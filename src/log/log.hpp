// The diagnostics log (spdlog is used here only): separate from the console's step lines.
// stderr shows warnings and errors, and at -v/-vv the diagnostics too; --log-file (rotating)
// and --syslog receive every event of the run and the diagnostics of the chosen level.
// Every message passes through the project's Secrets before any sink sees it.
#pragma once
#include <string>

#include "core/secrets.hpp"

namespace ferry::log {

struct Options {
  int verbosity = 0;  // 0: info, 1 (-v): debug (commands run and where, timings), 2 (-vv): trace (SQL)
  bool quiet = false;
  std::string file;  // "" = no log file
  bool syslog = false;
};

// Once, from main, before anything logs. Throws Error(Config) when the file cannot be opened.
void init(const Options& o);
// The secrets every message is redacted with (grows while playbooks load; not owned).
void set_secrets(const Secrets* secrets);
int verbosity();

// Diagnostics: stderr (by level) and the log sinks.
void debug(const std::string& msg);
void trace(const std::string& msg);
void warn(const std::string& msg);
// Run events (the console already shows them): the log sinks only, never stderr.
enum class Event { Info, Warn, Error };
void event(Event level, const std::string& msg);

// Flushes every sink (at exit).
void flush();

}  // namespace ferry::log
