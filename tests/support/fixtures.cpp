#include "support/fixtures.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "core/text.hpp"
#include "transport/transport.hpp"

extern char** environ;
namespace fs = std::filesystem;

namespace ferry::test {

namespace {
Proc sh(const std::string& script, const std::map<std::string, std::string>& env = {}) {
  transport::LocalTransport t;
  auto cmd = transport::Command::shell(script);
  cmd.env = env;
  auto r = t.run(cmd);
  return Proc{r.exit_code, r.out, r.err};
}
void must(const std::string& script) {
  auto p = sh(script);
  if (p.code != 0)
    throw std::runtime_error("command failed (" + std::to_string(p.code) + "): " + script + "\n" + p.all());
}
std::string q(const std::string& s) { return shell_quote(s); }
bool is_root() { return getuid() == 0; }
std::string as_pg(const std::string& cmd) { return is_root() ? "runuser -u postgres -- " + cmd : cmd; }
std::string pgbin() {
  std::string best;
  for (const auto& e : fs::directory_iterator("/usr/lib/postgresql")) best = std::max(best, e.path().string());
  return best + "/bin";
}
}  // namespace

std::string ferry_binary() { return FERRY_BINARY; }
std::string source_dir() { return FERRY_SOURCE_DIR; }
bool contains(const std::string& h, const std::string& n) { return h.find(n) != std::string::npos; }

std::string temp_dir(const std::string& prefix) {
  std::string tmpl = "/tmp/" + prefix + "-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back(0);
  if (!mkdtemp(buf.data())) throw std::runtime_error("mkdtemp failed");
  return buf.data();
}

int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  int port = ntohs(a.sin_port);
  close(fd);
  return port;
}

PgCluster::PgCluster(const std::string& password, bool in_container) : m_password(password) {
  // One initdb per machine and auth mode, copied per cluster: ~0.1 s instead of ~2 s.
  std::string tmpl = "/tmp/ferry-test-pg-template" + std::string(password.empty() ? "" : "-scram");
  {
    int lock = open((tmpl + ".lock").c_str(), O_CREAT | O_RDWR, 0644);
    flock(lock, LOCK_EX);
    if (!fs::exists(tmpl + "/data/PG_VERSION")) {
      fs::remove_all(tmpl);
      fs::create_directories(tmpl);
      if (is_root()) must("chown postgres:postgres " + q(tmpl));
      std::string auth = "-A trust";
      if (!password.empty()) {
        std::ofstream(tmpl + "/pw") << password << "\n";
        if (is_root()) must("chown postgres " + q(tmpl + "/pw"));
        auth = "-A trust --auth-host=scram-sha-256 --pwfile=" + q(tmpl + "/pw");
      }
      must(as_pg(pgbin() + "/initdb -D " + q(tmpl + "/data") + " -U postgres " + auth +
                 " -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null"));
      fs::remove(tmpl + "/pw");
    }
    flock(lock, LOCK_UN);
    close(lock);
  }
  m_dir = temp_dir("ferry-pg");
  must("cp -a " + q(tmpl + "/data") + " " + q(m_dir + "/data") +
       (is_root() ? " && chown -R postgres:postgres " + q(m_dir) : "") + " && chmod 700 " + q(m_dir));
  if (in_container) {
    Container image_ready;  // makes sure the image exists
    m_port = free_port();
    m_container = "ferry-test-pg-" + std::to_string(getpid()) + "-" + std::to_string(m_port);
    must("podman run -d --init --name " + q(m_container) + " --user postgres -v /usr:/usr:ro -v /etc:/etc:ro -v " +
         q(m_dir) + ":" + q(m_dir) + " --network host localhost/hostusr:1 " + pgbin() + "/postgres -D " +
         q(m_dir + "/data") + " -p " + std::to_string(m_port) +
         " -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off >/dev/null");
    for (int i = 0; i < 200; ++i) {
      if (sh("pg_isready -q -h 127.0.0.1 -p " + std::to_string(m_port)).code == 0) return;
      usleep(50000);
    }
    throw std::runtime_error("postgres in container " + m_container + " did not start");
  }
  for (int attempt = 0; attempt < 5; ++attempt) {
    m_port = free_port();
    auto p =
        sh(as_pg(pgbin() + "/pg_ctl -D " + q(m_dir + "/data") + " -l " + q(m_dir + "/log") + " -w -t 30 -o " +
                 q("-p " + std::to_string(m_port) + " -k " + m_dir +
                   " -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c synchronous_commit=off") +
                 " start >/dev/null"));
    if (p.code == 0) return;
  }
  throw std::runtime_error("cannot start PostgreSQL in " + m_dir + ": " + read_file(m_dir + "/log"));
}

PgCluster::~PgCluster() {
  if (!m_container.empty()) {
    sh("podman rm -f -t 0 " + q(m_container) + " >/dev/null 2>&1");
    fs::remove_all(m_dir);
    return;
  }
  sh(as_pg(pgbin() + "/pg_ctl -D " + q(m_dir + "/data") + " -m immediate -w stop >/dev/null 2>&1"));
  fs::remove_all(m_dir);
}

void PgCluster::restart() {
  if (!m_container.empty()) {
    must("podman restart -t 5 " + q(m_container) + " >/dev/null");
  } else {
    must(as_pg(pgbin() + "/pg_ctl -D " + q(m_dir + "/data") + " -l " + q(m_dir + "/log") +
               " -m fast -w -t 30 restart >/dev/null"));
  }
  for (int i = 0; i < 200; ++i) {
    if (sh("pg_isready -q -h 127.0.0.1 -p " + std::to_string(m_port)).code == 0) return;
    usleep(50000);
  }
  throw std::runtime_error("postgres did not come back after a restart");
}

void PgCluster::stop() {
  must(as_pg(pgbin() + "/pg_ctl -D " + q(m_dir + "/data") + " -m fast -w -t 30 stop >/dev/null"));
}

void PgCluster::start() {
  must(as_pg(pgbin() + "/pg_ctl -D " + q(m_dir + "/data") + " -l " + q(m_dir + "/log") + " -w -t 30 -o " +
             q("-p " + std::to_string(m_port) + " -k " + m_dir +
               " -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c synchronous_commit=off") +
             " start >/dev/null"));
}

std::unique_ptr<db::Connection> PgCluster::connect(const std::string& db, const std::string& user) {
  db::ConnectParams p;
  p.host = "127.0.0.1";
  p.port = m_port;
  p.dbname = db;
  p.user = user;
  if (!m_password.empty()) p.password = m_password;
  return std::make_unique<db::Connection>(p);
}

void PgCluster::create_db(const std::string& name, const std::string& owner) {
  auto c = connect("postgres");
  c->exec("DROP DATABASE IF EXISTS " + db::quote_ident(name) + " WITH (FORCE)");
  c->exec("CREATE DATABASE " + db::quote_ident(name) + " OWNER " + db::quote_ident(owner));
}

std::string PgCluster::value(const std::string& db, const std::string& sql) {
  auto c = connect(db);
  auto r = c->exec(sql);
  return r.rows() && r.cols() ? r.text(0, 0) : "";
}

void PgCluster::exec(const std::string& db, const std::string& sql) { connect(db)->exec(sql); }

void PgCluster::load_pagila(const std::string& db) {
  create_db(db);
  std::string data = source_dir() + "/../shared/data/pagila";
  if (!fs::exists(data)) data = "/work/shared/data/pagila";
  std::map<std::string, std::string> env;
  if (!m_password.empty()) env["PGPASSWORD"] = m_password;
  auto p = sh("psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p " + std::to_string(m_port) + " -U postgres -d " + q(db) +
                  " -f " + q(data + "/pagila-schema.sql") + " -f " + q(data + "/pagila-data.sql") + " >/dev/null",
              env);
  if (p.code != 0) throw std::runtime_error("loading pagila failed: " + p.err);
}

Project::Project() : m_root(temp_dir("ferry-project")) {
  fs::create_directories(m_root + "/environments");
  fs::create_directories(m_root + "/playbooks");
  fs::create_directories(m_root + "/migrations");
}
Project::~Project() { fs::remove_all(m_root); }

void Project::write(const std::string& rel, const std::string& content) const {
  fs::create_directories(fs::path(path(rel)).parent_path());
  std::ofstream(path(rel), std::ios::binary) << content;
}
std::string Project::read(const std::string& rel) const { return read_file(path(rel)); }
bool Project::exists(const std::string& rel) const { return fs::exists(path(rel)); }
void Project::remove(const std::string& rel) const { fs::remove_all(path(rel)); }

void Project::env(const std::string& name, const PgCluster& pg, const std::string& db, const std::string& extra) const {
  write("environments/" + name + ".yaml",
        "description: test environment " + name + "\ndatabase:\n  name: " + db +
            "\n  user: postgres\n  host: 127.0.0.1\n  port: " + std::to_string(pg.port()) + "\n" + extra);
}

void Project::migration(const std::string& dir, const std::string& up, const std::string& down) const {
  write("migrations/" + dir + "/up.sql", up);
  if (!down.empty()) write("migrations/" + dir + "/down.sql", down);
}

Proc Project::ferry(const std::vector<std::string>& args, const std::map<std::string, std::string>& env) const {
  transport::LocalTransport t;
  transport::Command c;
  c.argv = {ferry_binary(), "-C", m_root};
  c.argv.insert(c.argv.end(), args.begin(), args.end());
  c.env = env;
  c.env["NO_COLOR"] = "1";
  auto r = t.run(c);
  return Proc{r.exit_code, r.out, r.err};
}

Background::Background(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env) {
  std::string dir = temp_dir("ferry-bg");
  m_out = dir + "/out";
  m_err = dir + "/err";
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, m_out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, m_err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<std::string> envs;
  for (char** e = environ; *e; ++e) envs.push_back(*e);
  for (const auto& [k, v] : env) envs.push_back(k + "=" + v);
  envs.push_back("NO_COLOR=1");
  std::vector<char*> envp, av;
  for (auto& s : envs) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = argv;
  for (auto& a : args) av.push_back(a.data());
  av.push_back(nullptr);
  if (posix_spawn(&m_pid, av[0], &fa, nullptr, av.data(), envp.data()) != 0) throw std::runtime_error("spawn failed");
  posix_spawn_file_actions_destroy(&fa);
}

Background::~Background() {
  if (!m_waited && m_pid > 0) {
    kill(m_pid, SIGKILL);
    waitpid(m_pid, nullptr, 0);
  }
  fs::remove_all(fs::path(m_out).parent_path());
}

void Background::signal(int sig) { kill(m_pid, sig); }

bool Background::wait_for_output(const std::string& text, std::chrono::milliseconds bound) const {
  return wait_until(
             [&] {
               if (contains(read_file(m_out) + read_file(m_err), text)) return true;
               siginfo_t info{};  // exited (WNOWAIT: still reaped by wait())
               return waitid(P_PID, static_cast<id_t>(m_pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
                      info.si_pid != 0;
             },
             bound) &&
         contains(read_file(m_out) + read_file(m_err), text);
}

Proc Background::wait() {
  int status = 0;
  waitpid(m_pid, &status, 0);
  m_waited = true;
  Proc p;
  p.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  p.out = read_file(m_out);
  p.err = read_file(m_err);
  return p;
}

Gate::Gate(std::chrono::seconds bound) : m_dir(temp_dir("ferry-gate")) {
  must("chmod 755 " + q(m_dir));  // a restart command may run as another user
  std::ofstream(m_dir + "/wait.sh") << "i=0\nwhile [ ! -e " << q(m_dir + "/open") << " ] && [ $i -lt "
                                    << bound.count() * 20 << " ]; do sleep 0.05; i=$((i+1)); done\n";
}
Gate::~Gate() { fs::remove_all(m_dir); }
void Gate::open() const { std::ofstream(m_dir + "/open") << "open\n"; }

bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds bound) {
  auto deadline = std::chrono::steady_clock::now() + bound;
  for (;;) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

Backend::Backend(const PgCluster& pg, const std::string& db, const std::string& require, const std::string& user)
    : m_state(temp_dir("ferry-backend")), m_port(free_port()), m_user(user) {
  if (!user.empty()) {
    // Another user must reach the scripts: the checkout may sit under a private directory.
    must("chmod 777 " + q(m_state) + " && cp " + q(source_dir() + "/examples/backend/backend.sh") + " " +
         q(source_dir() + "/examples/backend/backend.py") + " " + q(m_state) + " && chmod 755 " +
         q(m_state + "/backend.sh") + " " + q(m_state + "/backend.py"));
  }
  std::ofstream(m_state + "/backend.env") << "PORT=" << m_port << "\nPGHOST=127.0.0.1\nPGPORT=" << pg.port()
                                          << "\nPGDATABASE=" << db << "\nPGUSER=postgres\nREQUIRE=" << require << "\n";
  must(user.empty() ? restart_command() : "runuser -u " + user + " -- " + restart_command());
}

Backend::~Backend() {
  sh((m_user.empty() ? source_dir() + "/examples/backend/backend.sh"
                     : "runuser -u " + m_user + " -- " + m_state + "/backend.sh") +
     " stop " + q(m_state));
  fs::remove_all(m_state);
}

std::string Backend::restart_command() const {
  std::string script = m_user.empty() ? source_dir() + "/examples/backend/backend.sh" : m_state + "/backend.sh";
  return script + " restart " + q(m_state);
}
std::string Backend::health_url() const { return "http://127.0.0.1:" + std::to_string(m_port) + "/api/health"; }
std::string Backend::yaml() const {
  return "services:\n  backend:\n    restart: " + restart_command() + "\n    health:\n      url: " + health_url() +
         "\n      expect_body: '\"status\": \"ok\"'\n      timeout: 3s\n      interval: 100ms\n";
}

SshServer::SshServer() {
  if (!is_root()) return;
  if (sh("id ferrytest >/dev/null 2>&1").code != 0) must("useradd -m -s /bin/sh -p '*' ferrytest");
  if (sh("id ferryroot >/dev/null 2>&1").code != 0) must("useradd -o -u 0 -g 0 -M -d /tmp -s /bin/sh -p '*' ferryroot");
  m_dir = temp_dir("ferry-sshd");
  must("chmod 755 " + q(m_dir) + " && mkdir -p /run/sshd && ssh-keygen -q -t ed25519 -N '' -f " +
       q(m_dir + "/host_key") + " && ssh-keygen -q -t ed25519 -N '' -f " + q(m_dir + "/id_ed25519") + " && cp " +
       q(m_dir + "/id_ed25519.pub") + " " + q(m_dir + "/authorized_keys") + " && chmod 644 " +
       q(m_dir + "/authorized_keys"));
  m_port = free_port();
  std::ofstream(m_dir + "/sshd_config")
      << "ListenAddress 127.0.0.1\nPort " << m_port << "\nHostKey " << m_dir << "/host_key\nPidFile " << m_dir
      << "/sshd.pid\nAuthorizedKeysFile " << m_dir
      << "/authorized_keys\nPubkeyAuthentication yes\nPasswordAuthentication no\n"
         "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nUsePAM no\n"
         "StrictModes no\nAllowTcpForwarding yes\nLogLevel INFO\n";
  std::ofstream(m_dir + "/known_hosts") << "[127.0.0.1]:" << m_port << " " << host_public_key() << "\n";
  start();
  m_ok = true;
}

void SshServer::start() {
  must("/usr/sbin/sshd -f " + q(m_dir + "/sshd_config") + " -E " + q(m_dir + "/sshd.log"));
  for (int i = 0; i < 100; ++i) {
    if (sh("exec 3<>/dev/tcp/127.0.0.1/" + std::to_string(m_port)).code == 0 || fs::exists(m_dir + "/sshd.pid")) break;
    usleep(20000);
  }
  for (int i = 0; i < 100 && sh("bash -c 'exec 3<>/dev/tcp/127.0.0.1/" + std::to_string(m_port) + "'").code != 0; ++i)
    usleep(20000);
}

void SshServer::stop() {
  sh("kill $(cat " + q(m_dir + "/sshd.pid") + ") 2>/dev/null; for i in $(seq 1 50); do [ -f " + q(m_dir + "/sshd.pid") +
     " ] || break; sleep 0.02; done");
}

SshServer::~SshServer() {
  if (m_dir.empty()) return;
  stop();
  // Sessions forked for logins die with their connections, and may still write to the log as
  // they go (seen on a fresh-clone CI run: "cannot remove: Directory not empty"): retried, and
  // never thrown from a destructor.
  for (int i = 0; i < 50; ++i) {
    std::error_code ec;
    fs::remove_all(m_dir, ec);
    if (!ec && !fs::exists(m_dir, ec)) return;
    usleep(20000);
  }
}

std::string SshServer::host_public_key() const {
  std::string k = read_file(m_dir + "/host_key.pub");
  auto sp = k.find(' ', k.find(' ') + 1);
  return trim(k.substr(0, sp));
}

std::string SshServer::connection_yaml(const std::string& name, const std::string& extra,
                                       const std::string& user) const {
  return "  " + name + ":\n    type: ssh\n    host: 127.0.0.1\n    port: " + std::to_string(m_port) +
         "\n    user: " + user +
         "\n"
         "    identity: " +
         identity() + "\n    known_hosts: " + known_hosts() + "\n" + extra;
}

std::string SshServer::log() const { return fs::exists(m_dir + "/sshd.log") ? read_file(m_dir + "/sshd.log") : ""; }

int SshServer::accepted_logins() const {
  std::string l = log();
  int n = 0;
  for (size_t p = 0; (p = l.find("Accepted publickey", p)) != std::string::npos; ++p) ++n;
  return n;
}

Container::Container(const std::string& extra_args) {
  if (!is_root() || sh("test -x /usr/bin/podman").code != 0) return;
  {
    int lock = open("/tmp/ferry-test-image.lock", O_CREAT | O_RDWR, 0644);
    flock(lock, LOCK_EX);
    if (sh("podman image exists localhost/hostusr:1").code != 0) {
      std::string d = temp_dir("ferry-rootfs");
      must("cd " + q(d) +
           " && mkdir -p rootfs/etc rootfs/proc rootfs/sys rootfs/dev rootfs/tmp rootfs/var rootfs/run rootfs/root "
           "rootfs/usr rootfs/home && chmod 1777 rootfs/tmp && ln -s usr/bin rootfs/bin && ln -s usr/lib rootfs/lib && "
           "ln -s usr/lib64 rootfs/lib64 && ln -s usr/sbin rootfs/sbin && tar -C rootfs -cf rootfs.tar . && "
           "podman import rootfs.tar localhost/hostusr:1 >/dev/null");
      fs::remove_all(d);
    }
    flock(lock, LOCK_UN);
    close(lock);
  }
  m_name = "ferry-test-" + std::to_string(getpid()) + "-" + std::to_string(free_port());
  auto p =
      sh("podman run -d --init --name " + q(m_name) + " -v /usr:/usr:ro -v /etc:/etc:ro -v /tmp:/tmp --network host " +
         extra_args + " localhost/hostusr:1 sleep infinity");
  m_ok = p.code == 0;
  if (!m_ok) std::fprintf(stderr, "container did not start: %s\n", p.all().c_str());
}

Container::~Container() {
  if (!m_name.empty()) sh("podman rm -f -t 0 " + q(m_name) + " >/dev/null 2>&1");
}

KubectlStandin::KubectlStandin() : m_dir(temp_dir("ferry-kubectl")) {
  std::ofstream(m_dir + "/map");
  setenv("KUBECTL_STANDIN_MAP", (m_dir + "/map").c_str(), 1);
}

std::string KubectlStandin::path() { return source_dir() + "/tests/support/kubectl-standin"; }

KubectlStandin::~KubectlStandin() {
  unsetenv("KUBECTL_STANDIN_MAP");
  fs::remove_all(m_dir);
}

void KubectlStandin::add(const std::string& target, const std::string& container, const std::string& ns,
                         const std::string& context) {
  std::ofstream(m_dir + "/map", std::ios::app) << context << " " << ns << " " << target << " " << container << "\n";
}

Standby::Standby(const PgCluster& primary, const std::string& application_name, const std::string& apply_delay)
    : m_dir(temp_dir("ferry-standby")) {
  for (char c : application_name + apply_delay)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_')  // written into a conf string
      throw std::invalid_argument("Standby: name and delay are letters, digits, '-' and '_'");
  if (is_root()) must("chown postgres:postgres " + q(m_dir) + " && chmod 700 " + q(m_dir));
  std::string data = m_dir + "/data";
  must(as_pg(pgbin() + "/pg_basebackup -R -X stream -c fast -D " + q(data) + " -h 127.0.0.1 -p " +
             std::to_string(primary.port()) + " -U postgres"));
  // Appended after pg_basebackup's own primary_conninfo: the last setting wins.
  std::ofstream(data + "/postgresql.auto.conf", std::ios::app)
      << "primary_conninfo = 'host=127.0.0.1 port=" << primary.port()
      << " user=postgres application_name=" << application_name << "'\n"
      << (apply_delay.empty() ? "" : "recovery_min_apply_delay = '" + apply_delay + "'\n");
  for (int attempt = 0; attempt < 5; ++attempt) {
    m_port = free_port();
    auto p =
        sh(as_pg(pgbin() + "/pg_ctl -D " + q(data) + " -l " + q(m_dir + "/log") + " -w -t 30 -o " +
                 q("-p " + std::to_string(m_port) + " -k " + m_dir + " -c listen_addresses=127.0.0.1 -c fsync=off") +
                 " start >/dev/null"));
    if (p.code == 0) return;
  }
  throw std::runtime_error("cannot start the standby in " + m_dir + ": " + read_file(m_dir + "/log"));
}

Standby::~Standby() {
  sh(as_pg(pgbin() + "/pg_ctl -D " + q(m_dir + "/data") + " -m immediate -w stop >/dev/null 2>&1"));
  fs::remove_all(m_dir);
}

FileTail::FileTail(std::string path)
    : m_path(std::move(path)),
      m_from(static_cast<std::streamoff>(std::ifstream(m_path, std::ios::ate | std::ios::binary).tellg())) {}

std::string FileTail::appended() const {
  std::ifstream in(m_path, std::ios::binary);
  in.seekg(m_from);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace ferry::test
