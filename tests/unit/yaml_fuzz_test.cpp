// Keeps the configuration loader safe on any input: seeded random mutations of the example
// environments and playbook (keys renamed, types changed, aliases, unicode, truncation, huge
// scalars, repeated keys and documents, deep nesting) never crash it, and every refusal says
// FILE:LINE:COL. A sample goes through the real `ferry validate`, which must exit 64.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>

#include "config/loader.hpp"
#include "core/error.hpp"
#include "transport/transport.hpp"

namespace fs = std::filesystem;
using namespace ferry;

namespace {

// The example project's files (environments/dev.yaml, production.yaml, playbooks/promote.yaml).
const std::vector<std::pair<std::string, std::string>> k_files = {
    {"environments/dev.yaml", R"(description: Developer database
database:
  name: ferry_dev
  user: postgres
  host: 127.0.0.1
  port: 55432
backup:
  dir: /tmp/ferry-demo/backups/dev
  keep: 3
services:
  backend:
    restart: /tmp/ferry-demo/bin/backend.sh restart /tmp/ferry-demo/backend-dev
    health:
      url: http://127.0.0.1:38101/api/health
      expect_body: '"status": "ok"'
      timeout: 10s
      interval: 250ms
)"},
    {"environments/production.yaml", R"(description: "Production: docker exec over SSH, gated on dev, protected"
protected: true
requires: [dev]
connections:
  host:
    type: ssh
    host: 127.0.0.1
    port: 47022
    user: ferrydemoroot
    identity: /tmp/ferry-demo/ssh/id_ed25519
    known_hosts: /tmp/ferry-demo/ssh/known_hosts
  pg:
    type: docker
    container: ferry-demo-pg
    via: host
    engine: /usr/bin/docker
database:
  name: ferry_production
  user: postgres
  password: ${FUZZ_PW}
  host: 127.0.0.1
  port: 55442
  tunnel: host
  tools: pg
backup:
  on: host
  dir: /tmp/ferry-demo/backups/production
  keep: 3
services:
  backend:
    on: host
    restart: /tmp/ferry-demo/bin/backend.sh restart "${secret:FUZZ_PW}"
    health:
      url: http://127.0.0.1:38103/api/health
      expect_body: '"status": "ok"'
      timeout: 10s
      interval: 250ms
      via: host
)"},
    {"playbooks/promote.yaml", R"(description: Promote pending migrations from dev to production
migrations: migrations
stages: [dev, production]
steps:
  - backup
  - migrate:
      transaction: all
      lock_timeout: 5s
  - verify:
      columns:
        - tasks.due_date: timestamp with time zone
        - tasks.priority_id
      row_counts: all
      sql:
        - SELECT count(*) = 0 FROM tasks WHERE title IS NULL
  - restart: backend
  - health: backend
  - run: {on: local, command: 'echo "${FUZZ_PW}" | wc -c', timeout: 5s}
  - sql: ANALYZE tasks
on_failure: rollback
rollback: auto
)"}};

class Mutator {
 public:
  explicit Mutator(unsigned seed) : m_rng(seed) {}

  std::string mutate(std::string text) {
    int n = 1 + pick(3);
    for (int i = 0; i < n; ++i) text = once(text);
    return text;
  }

 private:
  size_t pick(size_t n) { return n == 0 ? 0 : std::uniform_int_distribution<size_t>(0, n - 1)(m_rng); }
  std::vector<std::string> lines(const std::string& t) {
    std::vector<std::string> out;
    size_t pos = 0;
    while (pos < t.size()) {
      size_t nl = t.find('\n', pos);
      out.push_back(t.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos));
      pos = nl == std::string::npos ? t.size() : nl + 1;
    }
    return out;
  }
  static std::string join(const std::vector<std::string>& ls) {
    std::string out;
    for (const auto& l : ls) out += l + "\n";
    return out;
  }
  std::string replace_value(const std::string& line, const std::string& value) {
    auto colon = line.find(": ");
    return colon == std::string::npos ? line + " " + value : line.substr(0, colon + 2) + value;
  }

  std::string once(const std::string& text) {
    static const std::vector<std::string> k_values = {"[1, 2]",
                                                      "{a: b}",
                                                      "~",
                                                      "''",
                                                      "12345678901234",
                                                      "-1",
                                                      "\n  - x\n  - y",
                                                      "!!binary AAAA",
                                                      "yes",
                                                      "0x1F",
                                                      "1e400",
                                                      ".nan",
                                                      "|\n  two\n  lines",
                                                      "\"\\u0000\"",
                                                      "'${FUZZ_UNSET}'",
                                                      "${FUZZ_PW",
                                                      "[*nope]",
                                                      "${secret:FUZZ_PW}",
                                                      "'${secret:FUZZ PW}'",
                                                      "&a x",
                                                      "file:///etc/passwd",
                                                      "\"\"",
                                                      "{",
                                                      "]"};
    static const std::vector<std::string> k_unicode = {"\xc3\xa9", "\xf0\x9f\x98\x80",   "\xe2\x80\xae", "\xff\xfe",
                                                       "\xc3",     std::string(1, '\0'), "\xef\xbb\xbf", "\t",
                                                       "\r\n"};
    auto ls = lines(text);
    if (ls.empty()) return "x: 1\n";
    size_t i = pick(ls.size());
    switch (pick(13)) {
      case 0:  // rename a key
        if (auto c = ls[i].find(':'); c != std::string::npos && c > 0) ls[i][pick(c)] = "xqz_-"[pick(5)];
        break;
      case 1:  // change a value's type
        ls[i] = replace_value(ls[i], k_values[pick(k_values.size())]);
        break;
      case 2: {  // anchors and aliases, maybe many
        ls[i] = replace_value(ls[i], "&a " + std::string(pick(2) ? "v" : "[1, 2, 3]"));
        std::string aliases = "[*a";
        for (size_t k = 0, n = pick(2) ? 3 : 5000; k < n; ++k) aliases += ", *a";
        ls[pick(ls.size())] = replace_value(ls[pick(ls.size())], aliases + "]");
        break;
      }
      case 3:  // unicode and bad bytes
        ls[i].insert(pick(ls[i].size() + 1), k_unicode[pick(k_unicode.size())]);
        break;
      case 4:  // truncation
        return text.substr(0, pick(text.size() + 1));
      case 5:  // a huge scalar, now and then
        ls[i] = replace_value(ls[i], std::string(pick(20) == 0 ? (5 << 20) : 70'000, 'y'));
        break;
      case 6:  // a repeated line: duplicate keys
        ls.insert(ls.begin() + static_cast<long>(i), ls[i]);
        break;
      case 7:  // a second document
        ls.insert(ls.begin() + static_cast<long>(i), pick(2) ? "---" : "...");
        break;
      case 8:  // a lost line
        ls.erase(ls.begin() + static_cast<long>(i));
        break;
      case 9:  // indentation
        if (pick(2))
          ls[i] = "  " + ls[i];
        else if (ls[i].rfind("  ", 0) == 0)
          ls[i] = ls[i].substr(2);
        break;
      case 10:  // a YAML punctuation character anywhere
        if (!ls[i].empty()) ls[i][pick(ls[i].size())] = ":-[]{}&*!|>'\"%@`#,?"[pick(19)];
        break;
      case 11:  // deep nesting
        ls[i] = replace_value(ls[i], std::string(20 + pick(3000), '[') + "x");
        break;
      default:  // a value that is a mapping where a string was expected, or the reverse
        ls[i] = ls[i].find(": ") != std::string::npos ? replace_value(ls[i], "\n" + std::string(8, ' ') + "k: v")
                                                      : ls[i] + ": v";
        break;
    }
    return join(ls);
  }
  std::mt19937 m_rng;
};

class YamlFuzz : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ferry-yamlfuzz-XXXXXX";
    m_root = mkdtemp(tmpl);
    fs::create_directories(m_root + "/environments");
    fs::create_directories(m_root + "/playbooks");
    for (const auto& [rel, text] : k_files) write(rel, text);
    setenv("FUZZ_PW", "fuzz-secret-value", 1);
    unsetenv("FUZZ_UNSET");
  }
  void TearDown() override { fs::remove_all(m_root); }
  void write(const std::string& rel, const std::string& text) {
    std::ofstream(m_root + "/" + rel, std::ios::binary | std::ios::trunc) << text;
  }
  // "" when the project loads, else the configuration error's message. Any other exception
  // escapes and fails the test.
  std::string load() {
    try {
      auto p = config::load_project(m_root);
      config::load_playbook(p, "promote");
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Config) << e.what();
      return e.what();
    }
    return "";
  }
  std::string m_root;
};

std::string ferry_binary() { return (fs::read_symlink("/proc/self/exe").parent_path() / "ferry").string(); }

}  // namespace

TEST_F(YamlFuzz, MutationsNeverCrashAndEveryErrorHasAPlace) {
  ASSERT_EQ(load(), "");  // the examples themselves load
  static const std::regex k_place(R"(^(environments|playbooks)/[a-z]+\.yaml:[1-9][0-9]*:[1-9][0-9]*: \S)");
  Mutator m(20261130);
  transport::LocalTransport local;
  int refused = 0, validated = 0;
  auto t0 = std::chrono::steady_clock::now();
  for (int iter = 0; iter < 1200; ++iter) {
    const auto& [rel, original] = k_files[static_cast<size_t>(iter) % k_files.size()];
    std::string mutated = m.mutate(original);
    write(rel, mutated);
    std::string err = load();
    if (!err.empty()) {
      ++refused;
      EXPECT_TRUE(std::regex_search(err, k_place))
          << "iteration " << iter << " (" << rel << "): " << err.substr(0, 300);
      EXPECT_EQ(err.find("fuzz-secret-value"), std::string::npos) << "iteration " << iter << ": " << err;
      EXPECT_LT(err.size(), 2000u) << "iteration " << iter;
      if (iter % 40 == 0 && fs::exists(ferry_binary())) {
        transport::Command c;
        c.argv = {ferry_binary(), "-C", m_root, "validate"};
        auto r = local.run(c);
        EXPECT_EQ(r.exit_code, 64) << "iteration " << iter << ": " << r.err;
        EXPECT_EQ(r.err.rfind("ferry: error: " + err.substr(0, err.find(':')), 0), 0u)
            << "iteration " << iter << ": " << r.err.substr(0, 300);
        ++validated;
      }
    }
    write(rel, original);
  }
  EXPECT_GT(refused, 400) << "of 1200";
  EXPECT_GT(validated, 5);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(60));
}

TEST_F(YamlFuzz, AliasesThatMultiplyAreRefusedQuickly) {
  // A billion laughs: ten levels of ten aliases each.
  std::string pb = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
  for (int i = 1; i <= 10; ++i) {
    pb += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int k = 0; k < 10; ++k) pb += std::string(k ? ", " : "") + "*a" + std::to_string(i - 1);
    pb += "]\n";
  }
  write("playbooks/promote.yaml", pb);
  auto t0 = std::chrono::steady_clock::now();
  std::string err = load();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
  EXPECT_TRUE(err.find("once YAML aliases are expanded; refused") != std::string::npos) << err;
  EXPECT_EQ(err.rfind("playbooks/promote.yaml:", 0), 0u) << err;
}
