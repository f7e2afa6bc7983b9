#include "log/log.hpp"

#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/sinks/syslog_sink.h>
#include <spdlog/spdlog.h>
#include <fcntl.h>
#include <syslog.h>
#include <unistd.h>

#include <atomic>
#include <memory>

#include "core/error.hpp"

namespace ferry::log {

namespace {

constexpr size_t k_file_bytes = 10 << 20;  // per file
constexpr size_t k_files = 3;              // ferry.log, ferry.1.log, ferry.2.log ...

// The two loggers share the file and syslog sinks; only `diag` writes to stderr.
struct Loggers {
  std::shared_ptr<spdlog::logger> diag;
  std::shared_ptr<spdlog::logger> events;
  int verbosity = 0;
};

Loggers& loggers() {
  static Loggers l;
  return l;
}

std::atomic<const Secrets*> g_secrets{nullptr};

std::string redact(const std::string& msg) {
  const Secrets* s = g_secrets.load();
  return s ? s->redact(msg) : msg;
}

spdlog::level::level_enum level_for(int verbosity) {
  return verbosity >= 2 ? spdlog::level::trace : verbosity == 1 ? spdlog::level::debug : spdlog::level::info;
}

void write(const std::shared_ptr<spdlog::logger>& l, spdlog::level::level_enum lvl, const std::string& msg) {
  if (!l || !l->should_log(lvl)) return;
  // A message is data, never a format string.
  l->log(lvl, fmt::runtime("{}"), redact(msg));
}

}  // namespace

void init(const Options& o) {
  auto& l = loggers();
  l.verbosity = o.verbosity;
  std::vector<spdlog::sink_ptr> shared;
  if (!o.file.empty()) {
    // Private, as the journals are: it quotes commands, SQL and their output.
    int fd = ::open(o.file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd >= 0) ::close(fd);
    try {
      shared.push_back(std::make_shared<spdlog::sinks::rotating_file_sink_mt>(o.file, k_file_bytes, k_files));
    } catch (const spdlog::spdlog_ex& e) {
      throw Error(ErrorKind::Config, "cannot write log file '" + o.file + "': " + e.what());
    }
  }
  if (o.syslog) shared.push_back(std::make_shared<spdlog::sinks::syslog_sink_mt>("ferry", LOG_PID, LOG_USER, true));
  for (auto& s : shared) {
    s->set_level(level_for(o.verbosity));
    s->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z [%l] %v");
  }
  auto err = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  err->set_level(o.quiet ? spdlog::level::err : o.verbosity > 0 ? level_for(o.verbosity) : spdlog::level::warn);
  err->set_pattern("ferry: %l: %v");
  std::vector<spdlog::sink_ptr> diag_sinks = shared;
  diag_sinks.push_back(err);
  l.diag = std::make_shared<spdlog::logger>("diag", diag_sinks.begin(), diag_sinks.end());
  l.events = std::make_shared<spdlog::logger>("events", shared.begin(), shared.end());
  for (auto* lg : {&l.diag, &l.events}) {
    (*lg)->set_level(spdlog::level::trace);
    (*lg)->flush_on(spdlog::level::trace);  // a crash keeps what was logged
  }
}

void set_secrets(const Secrets* secrets) { g_secrets.store(secrets); }
int verbosity() { return loggers().verbosity; }

void debug(const std::string& msg) { write(loggers().diag, spdlog::level::debug, msg); }
void trace(const std::string& msg) { write(loggers().diag, spdlog::level::trace, msg); }
void warn(const std::string& msg) { write(loggers().diag, spdlog::level::warn, msg); }

void event(Event level, const std::string& msg) {
  write(loggers().events,
        level == Event::Error  ? spdlog::level::err
        : level == Event::Warn ? spdlog::level::warn
                               : spdlog::level::info,
        msg);
}

void flush() {
  auto& l = loggers();
  if (l.diag) l.diag->flush();
  if (l.events) l.events->flush();
}

}  // namespace ferry::log
