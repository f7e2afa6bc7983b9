#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/output.hpp"
#include "report/reporter.hpp"

namespace ferry::report {

namespace {
class Console : public Reporter {
 public:
  Console(bool color, bool quiet, bool verbose)
      : m_color(color),
        m_quiet(quiet),
        m_verbose(verbose),
        m_tty(isatty(STDOUT_FILENO) == 1),
        m_err_tty(isatty(STDERR_FILENO) == 1) {
    if (const char* e = std::getenv("FERRY_PROGRESS_INTERVAL"); e && *e && std::atoi(e) >= 0)
      m_interval = Millis(std::atoi(e) * 1000LL);
  }

  void run_started(const std::string& run_id, const std::string& playbook,
                   const std::vector<std::string>& stages) override {
    if (m_quiet) return;
    std::string s;
    for (const auto& st : stages) s += (s.empty() ? "" : " -> ") + st;
    out(paint("1", "run " + run_id) + "  playbook " + playbook + "  stages " + s + "\n");
  }
  void stage_started(const std::string& env, const std::string& target) override {
    if (m_quiet) return;
    out(paint("1", "stage " + env) + "  " + paint("2", target) + "\n");
  }
  void step_started(const std::string& step) override {
    m_progress_shown = false;
    m_since_progress = Stopwatch();
    if (m_verbose) out(paint("2", "  ..      " + step) + "\n");
  }
  // At a terminal: one line rewritten in place (cursor codes only with colour; without, the
  // line is padded over the previous one). Elsewhere (CI logs, journald): a plain line every
  // m_interval (FERRY_PROGRESS_INTERVAL seconds, default 10).
  void step_progress(const std::string& step, const std::string& progress) override {
    if (m_quiet) return;
    std::string text = "  ..      " + pad(step, 22) + " " + progress;
    if (!m_tty) {
      if (m_since_progress.elapsed() < m_interval) return;
      m_since_progress = Stopwatch();
      out(text + "\n");
      return;
    }
    out(m_color ? "\r\033[K" + paint("2", text) : "\r" + pad(text, m_progress_width));
    m_progress_width = text.size();
    m_progress_shown = true;
  }
  void step_finished(const std::string& step, const std::string& summary, Millis took) override {
    if (m_quiet) return;
    line(paint("32", "ok    "), step, summary, took);
  }
  void step_failed(const std::string& step, const std::string& error, Millis took) override {
    line(paint("31;1", "FAILED"), step, error, took);
  }
  void step_compensated(const std::string& step, bool ok, const std::string& summary, Millis took) override {
    line(ok ? paint("33", "undone") : paint("31;1", "UNDO FAILED"), "undo " + step, summary, took);
  }
  void message(Level level, const std::string& message) override {
    if (m_quiet && level == Level::Info) return;
    clear_progress();
    std::string text = console_part(message);
    // Step lines and results go to stdout; warnings, errors and their hints to stderr.
    switch (level) {
      case Level::Info:
        out("  " + text + "\n");
        break;
      case Level::Warn:
        err("  " + paint_err("33", "warning: ") + text + "\n");
        break;
      case Level::Error:
        err("  " + paint_err("31;1", "error: ") + text + "\n");
        break;
      case Level::Hint:
        err("  " + paint_err("36", "hint: ") + text + "\n");
        break;
    }
  }
  void stage_finished(const std::string& env, const std::string& outcome, Millis took) override {
    if (m_quiet && outcome == "succeeded") return;
    std::string code = outcome == "succeeded" ? "32" : outcome == "rolled back" ? "33" : "31;1";
    out("stage " + env + " " + paint(code, outcome) + " in " + format_duration(took) + "\n");
  }
  void run_finished(const std::string& outcome, int exit_code, Millis took) override {
    std::string code = exit_code == 0 ? "32;1" : exit_code == 1 || exit_code == 3 ? "33;1" : "31;1";
    if (m_quiet && exit_code == 0) return;
    out(paint(code, "run " + outcome) + " in " + format_duration(took) + " (exit " + std::to_string(exit_code) + ")\n");
  }

 private:
  static std::string pad(const std::string& s, size_t n) {
    return s.size() >= n ? s : s + std::string(n - s.size(), ' ');
  }
  std::string paint(const std::string& code, const std::string& s) const {
    return m_color ? "\033[" + code + "m" + s + "\033[0m" : s;
  }
  void clear_progress() {
    if (m_progress_shown) out(m_color ? "\r\033[K" : "\r" + std::string(m_progress_width, ' ') + "\r");
    m_progress_shown = false;
    m_progress_width = 0;
  }
  void line(const std::string& mark, const std::string& step, const std::string& text, Millis took) {
    clear_progress();
    std::string t = console_part(text);  // the journal and --report keep a command's whole output
    std::string rest;
    if (auto nl = t.find('\n'); nl != std::string::npos) {
      rest = t.substr(nl + 1);
      t = t.substr(0, nl);
    }
    out("  " + mark + "  " + pad(step, 22) + " " + pad(t, 46) + " " + format_duration(took) + "\n");
    size_t pos = 0;
    while (!rest.empty() && pos < rest.size()) {
      size_t nl = rest.find('\n', pos);
      out("            " + rest.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos) + "\n");
      if (nl == std::string::npos) break;
      pos = nl + 1;
    }
  }
  // Quiet (-q, and every --json: stdout is then one document) shows only failures, and shows
  // them on stderr: stdout stays empty.
  void out(const std::string& s) const {
    FILE* f = m_quiet ? stderr : stdout;
    std::fwrite(s.data(), 1, s.size(), f);
    std::fflush(f);
  }
  static void err(const std::string& s) {
    std::fwrite(s.data(), 1, s.size(), stderr);
    std::fflush(stderr);
  }
  // Colour on stderr only when it is a terminal too (stdout may be one while stderr goes to a file).
  std::string paint_err(const std::string& code, const std::string& s) const {
    return m_color && m_err_tty ? "\033[" + code + "m" + s + "\033[0m" : s;
  }
  bool m_color, m_quiet, m_verbose, m_tty, m_err_tty;
  bool m_progress_shown = false;
  size_t m_progress_width = 0;
  Millis m_interval{10'000};
  Stopwatch m_since_progress;
};
}  // namespace

std::unique_ptr<Reporter> make_console_reporter(bool color, bool quiet, bool verbose) {
  return std::make_unique<Console>(color, quiet, verbose);
}

}  // namespace ferry::report
