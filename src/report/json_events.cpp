#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "report/reporter.hpp"

namespace ferry::report {

namespace {
using nlohmann::json;

// Creates the file readable by its owner only (it quotes row values, response bodies and
// command output), before a stream opens it. A file that exists is tightened too.
void create_private(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return;  // the stream's own open reports the failure
  ::fchmod(fd, 0600);
  ::close(fd);
}

// Turns each call into one JSON event and hands it to emit().
class JsonEvents : public Reporter {
 public:
  void run_started(const std::string& run_id, const std::string& playbook,
                   const std::vector<std::string>& stages) override {
    emit({{"event", "run_started"}, {"run_id", run_id}, {"playbook", playbook}, {"stages", stages}});
  }
  void stage_started(const std::string& env, const std::string& target) override {
    m_stage = env;
    emit({{"event", "stage_started"}, {"stage", env}, {"target", target}});
  }
  void step_started(const std::string& step) override {
    emit({{"event", "step_started"}, {"stage", m_stage}, {"step", step}});
  }
  void step_progress(const std::string&, const std::string&) override {}
  void step_finished(const std::string& step, const std::string& summary, Millis took) override {
    emit({{"event", "step_finished"},
          {"stage", m_stage},
          {"step", step},
          {"result", summary},
          {"duration_ms", took.count()}});
  }
  void step_failed(const std::string& step, const std::string& error, Millis took) override {
    emit({{"event", "step_failed"},
          {"stage", m_stage},
          {"step", step},
          {"error", error},
          {"duration_ms", took.count()}});
  }
  void step_compensated(const std::string& step, bool ok, const std::string& summary, Millis took) override {
    emit({{"event", ok ? "step_compensated" : "compensation_failed"},
          {"stage", m_stage},
          {"step", step},
          {"result", summary},
          {"duration_ms", took.count()}});
  }
  void message(Level level, const std::string& text) override {
    static const char* k_names[] = {"info", "warning", "error", "hint"};
    emit({{"event", "message"}, {"stage", m_stage}, {"level", k_names[static_cast<int>(level)]}, {"text", text}});
  }
  void stage_finished(const std::string& env, const std::string& outcome, Millis took) override {
    emit({{"event", "stage_finished"}, {"stage", env}, {"outcome", outcome}, {"duration_ms", took.count()}});
  }
  void stage_summary(const StageSummary& s) override {
    emit({{"event", "stage_summary"},
          {"stage", s.environment},
          {"outcome", s.outcome},
          {"exit_code", s.exit_code},
          {"version_before", s.version_before},
          {"version_after", s.version_after},
          {"backup_id", s.backup_id},
          {"backup_size", s.backup_size},
          {"pending", s.pending},
          {"code_versions", s.code_versions}});
  }
  void run_finished(const std::string& outcome, int exit_code, Millis took) override {
    emit({{"event", "run_finished"}, {"outcome", outcome}, {"exit_code", exit_code}, {"duration_ms", took.count()}});
    done();
  }

 protected:
  virtual void write(const json& event) = 0;
  virtual void done() {}

 private:
  void emit(json e) {
    e["at"] = now_iso8601();
    write(e);
  }
  std::string m_stage;
};

class Journal : public JsonEvents {
 public:
  explicit Journal(const std::string& path) : m_out((create_private(path), path), std::ios::app) {
    if (!m_out) throw Error(ErrorKind::Config, "cannot write journal '" + path + "'");
  }

 protected:
  void write(const json& e) override { m_out << e.dump() << '\n' << std::flush; }

 private:
  std::ofstream m_out;
};

class ReportFile : public JsonEvents {
 public:
  explicit ReportFile(std::string path) : m_path(std::move(path)) {}

 protected:
  void write(const json& e) override { m_events.push_back(e); }
  void done() override {
    json doc = {{"schema_version", 1}, {"events", m_events}};
    for (const auto& e : m_events) {
      if (e["event"] == "run_started") {
        doc["run_id"] = e["run_id"];
        doc["playbook"] = e["playbook"];
        doc["stages"] = e["stages"];
        doc["started"] = e["at"];
      }
      if (e["event"] == "run_finished") {
        doc["outcome"] = e["outcome"];
        doc["exit_code"] = e["exit_code"];
        doc["duration_ms"] = e["duration_ms"];
        doc["finished"] = e["at"];
      }
    }
    create_private(m_path);
    std::ofstream out(m_path);
    out << doc.dump(2) << '\n';
  }

 private:
  std::string m_path;
  json m_events = json::array();
};
}  // namespace

std::unique_ptr<Reporter> make_journal(const std::string& path) { return std::make_unique<Journal>(path); }
std::unique_ptr<Reporter> make_report_file(const std::string& path) { return std::make_unique<ReportFile>(path); }

}  // namespace ferry::report
