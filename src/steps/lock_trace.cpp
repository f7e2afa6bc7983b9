#include "steps/lock_trace.hpp"

#include <cctype>
#include <chrono>
#include <nlohmann/json.hpp>

#include "core/error.hpp"

using nlohmann::json;

namespace ferry::steps {

std::string lock_mode_name(const std::string& pg_mode) {
  std::string base = pg_mode;
  if (base.size() > 4 && base.compare(base.size() - 4, 4, "Lock") == 0) base.resize(base.size() - 4);
  std::string out;
  for (char c : base) {
    if (std::isupper(static_cast<unsigned char>(c)) && !out.empty()) out += ' ';
    out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

bool tracing(const config::StepSpec& spec, const config::Environment& env) {
  switch (spec.lock_trace) {
    case config::LockTraceMode::Always:
      return true;
    case config::LockTraceMode::Never:
      return false;
    case config::LockTraceMode::Auto:
      break;
  }
  return !env.is_protected;
}

std::string trace_json(const LockTrace& t) {
  json j = {{"environment", t.environment},
            {"transaction", t.transaction},
            {"statements", json::array()},
            {"tables", json::object()},
            {"held_before", json::array()}};
  for (const auto& l : t.held_before) j["held_before"].push_back({{"mode", l.mode}, {"relation", l.relation}});
  for (const auto& s : t.statements) {
    json locks = json::array();
    for (const auto& l : s.locks) locks.push_back({{"mode", l.mode}, {"relation", l.relation}});
    j["statements"].push_back(
        {{"file", s.file}, {"line", s.line}, {"locks", locks}, {"rewritten", s.rewritten}, {"ms", s.ms}});
  }
  for (const auto& [name, size] : t.tables) j["tables"][name] = {{"rows", size.rows}, {"bytes", size.bytes}};
  return j.dump();
}

LockTrace parse_trace(const std::string& text) {
  try {
    auto j = json::parse(text);
    LockTrace t;
    t.environment = j.at("environment").get<std::string>();
    t.transaction = j.value("transaction", true);
    for (const auto& s : j.at("statements")) {
      TracedStatement st{s.at("file").get<std::string>(), s.at("line").get<int>(), {}, {}, s.at("ms").get<double>()};
      for (const auto& l : s.at("locks"))
        st.locks.push_back({l.at("mode").get<std::string>(), l.at("relation").get<std::string>()});
      st.rewritten = s.at("rewritten").get<std::vector<std::string>>();
      t.statements.push_back(std::move(st));
    }
    for (const auto& l : j.value("held_before", json::array()))
      t.held_before.push_back({l.at("mode").get<std::string>(), l.at("relation").get<std::string>()});
    for (const auto& [name, size] : j.at("tables").items())
      t.tables[name] = TableSize{size.at("rows").get<double>(), size.at("bytes").get<long long>()};
    return t;
  } catch (const json::exception& e) {
    throw Error(ErrorKind::Command, std::string("a stored lock trace does not read: ") + e.what());
  }
}

Tracer::Tracer(db::Connection& db, std::string environment, bool transaction,
               const std::map<long long, db::TableState>& at_start)
    : m_db(db), m_start(at_start) {
  m_trace.environment = std::move(environment);
  m_trace.transaction = transaction;
  m_before = m_last = db::user_tables(m_db);
  for (const auto& l : db::own_relation_locks(m_db)) {
    m_inherited.insert({l.relation, l.mode});
    auto t = m_before.find(l.relation);
    if (t != m_before.end()) m_trace.held_before.push_back({lock_mode_name(l.mode), t->second.name});
  }
}

void Tracer::note_size(long long oid) {
  auto it = m_start.find(oid);
  if (it != m_start.end()) m_trace.tables[it->second.name] = TableSize{it->second.rows, it->second.bytes};
}

void Tracer::exec(const migrate::Statement& st, const std::string& file) {
  auto t0 = std::chrono::steady_clock::now();
  m_db.exec(st.text);
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  TracedStatement out{file, st.line, {}, {}, ms};
  auto now = db::user_tables(m_db);
  for (const auto& [oid, t] : now) {
    auto was = m_last.find(oid);
    if (was == m_last.end() || was->second.filenode == t.filenode) continue;
    out.rewritten.push_back(t.name);
    note_size(oid);
  }
  for (const auto& l : db::own_relation_locks(m_db)) {
    auto before = m_before.find(l.relation);
    // a table this migration created (no one else waits on it), or a lock an earlier migration took
    if (before == m_before.end() || m_inherited.count({l.relation, l.mode})) continue;
    out.locks.push_back({lock_mode_name(l.mode), before->second.name});
    note_size(l.relation);
  }
  m_last = std::move(now);
  m_trace.statements.push_back(std::move(out));
}

}  // namespace ferry::steps
