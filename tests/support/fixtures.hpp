// Test support: a real throwaway PostgreSQL cluster, temporary projects, and running the real
// ferry binary. No mocks: everything here starts real processes.
#pragma once
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "db/pg.hpp"

namespace ferry::test {

// A PostgreSQL cluster in a temp dir on a free loopback port, removed by the destructor.
// initdb runs once per machine into a cached template that each cluster copies (fast).
class PgCluster {
 public:
  // `in_container`: postgres runs inside a container (podman, host network); container()
  // names it. Otherwise it runs on this machine.
  explicit PgCluster(const std::string& password = "", bool in_container = false);
  const std::string& container() const { return m_container; }
  ~PgCluster();
  int port() const { return m_port; }
  const std::string& dir() const { return m_dir; }
  // Creates a database (dropping it first when it exists).
  void create_db(const std::string& name, const std::string& owner = "postgres");
  std::unique_ptr<db::Connection> connect(const std::string& db, const std::string& user = "postgres");
  // First column of the first row, or "" when there is none.
  std::string value(const std::string& db, const std::string& sql);
  void exec(const std::string& db, const std::string& sql);
  // Restarts the server (pg_ctl restart -m fast: every session is terminated), waiting until it
  // accepts connections again.
  void restart();
  // Stops the server (pg_ctl stop -m fast) / starts it again on the same port, waiting until it
  // accepts connections. Not for a cluster in a container.
  void stop();
  void start();
  // Loads the Pagila sample database (schema + data) into `db`.
  void load_pagila(const std::string& db);

 private:
  std::string m_dir;
  int m_port = 0;
  std::string m_password;
  std::string m_container;
};

struct Proc {
  int code = -1;
  std::string out;
  std::string err;
  std::string all() const { return out + err; }
};

// A project directory under /tmp, removed by the destructor.
class Project {
 public:
  Project();
  ~Project();
  const std::string& root() const { return m_root; }
  std::string path(const std::string& rel) const { return m_root + "/" + rel; }
  void write(const std::string& rel, const std::string& content) const;
  std::string read(const std::string& rel) const;
  bool exists(const std::string& rel) const;
  void remove(const std::string& rel) const;
  // environments/NAME.yaml for a database in `pg` (extra YAML appended verbatim).
  void env(const std::string& name, const PgCluster& pg, const std::string& db, const std::string& extra = "") const;
  // migrations/DIR/{up,down}.sql ("" down = none written).
  void migration(const std::string& dir, const std::string& up, const std::string& down = "-- nothing\n") const;

  // Runs `ferry -C ROOT ARGS...`; env vars added to ferry's environment.
  Proc ferry(const std::vector<std::string>& args, const std::map<std::string, std::string>& env = {}) const;

 private:
  std::string m_root;
};

// A process started in the background (for signals and lock contention).
class Background {
 public:
  Background(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {});
  ~Background();
  pid_t pid() const { return m_pid; }
  Proc wait();  // waits for exit; output read from the files it wrote
  void signal(int sig);
  // Waits until its stdout or stderr holds `text` (ferry flushes each line), the process has
  // exited, or `bound` passed; returns whether the text came. The process is not reaped.
  bool wait_for_output(const std::string& text, std::chrono::milliseconds bound = std::chrono::seconds(60)) const;

 private:
  pid_t m_pid = -1;
  std::string m_out, m_err;
  bool m_waited = false;
};

// A small real HTTP backend (examples/backend) whose health depends on the schema.
class Backend {
 public:
  // `user`: run it as that OS user (its restart command must then run as that user too).
  Backend(const PgCluster& pg, const std::string& db, const std::string& require, const std::string& user = "");
  ~Backend();
  int port() const { return m_port; }
  const std::string& state_dir() const { return m_state; }
  std::string restart_command() const;
  std::string health_url() const;
  std::string yaml() const;  // a `services:` block for environment files

 private:
  std::string m_state;
  int m_port = 0;
  std::string m_user;
};

// sshd on 127.0.0.1 with throwaway host and user keys, logging in as the test user
// `ferrytest` (created when missing; plain /bin/sh). Skips (returns !ok()) when not root.
class SshServer {
 public:
  SshServer();
  ~SshServer();
  bool ok() const { return m_ok; }
  int port() const { return m_port; }
  const std::string& dir() const { return m_dir; }
  std::string user() const { return "ferrytest"; }
  // `ferryroot`: uid 0 with a plain /bin/sh (root's own login shell is slow here), for
  // driving the root container engine over ssh.
  std::string identity() const { return m_dir + "/id_ed25519"; }
  std::string known_hosts() const { return m_dir + "/known_hosts"; }
  std::string host_public_key() const;  // "ssh-ed25519 AAAA..."
  // connections: block for an environment file, naming this server `name`.
  std::string connection_yaml(const std::string& name, const std::string& extra = "",
                              const std::string& user = "ferrytest") const;
  std::string log() const;
  int accepted_logins() const;  // "Accepted publickey" lines in the log
  void stop();
  void start();

 private:
  std::string m_dir;
  int m_port = 0;
  bool m_ok = false;
  pid_t m_pid = -1;
};

// A container under podman's docker-compatible CLI (/usr/bin/docker), from an image that
// borrows the host's /usr and /etc (no registry is reachable). Removed by the destructor.
class Container {
 public:
  explicit Container(const std::string& extra_args = "");
  ~Container();
  bool ok() const { return m_ok; }
  const std::string& name() const { return m_name; }
  static std::string engine() { return "/usr/bin/docker"; }

 private:
  std::string m_name;
  bool m_ok = false;
};

// The stand-in kubectl (tests/support/kubectl-standin) and a map file for it: `add` maps a
// kubectl TARGET (deployment/NAME, pod/NAME) in a namespace and context ("-": any) to a podman
// container, or to FORBIDDEN / UNREACHABLE. Sets KUBECTL_STANDIN_MAP in this process (children,
// such as the ferry binary, inherit it).
class KubectlStandin {
 public:
  KubectlStandin();
  ~KubectlStandin();
  static std::string path();
  void add(const std::string& target, const std::string& container, const std::string& ns = "-",
           const std::string& context = "-");

 private:
  std::string m_dir;
};

// A hot standby of `primary` (a cluster without a password): pg_basebackup -R, then postgres on
// a free loopback port, streaming with `application_name` in primary_conninfo and, when
// `apply_delay` is given ("60s"), `recovery_min_apply_delay`: a real, deterministic replay lag.
// Stopped (immediate) and removed by the destructor.
class Standby {
 public:
  Standby(const PgCluster& primary, const std::string& application_name, const std::string& apply_delay = "");
  ~Standby();
  int port() const { return m_port; }

 private:
  std::string m_dir;
  int m_port = 0;
};

// An event a test opens, for a process it started to wait on instead of sleeping a fixed time:
// command() is shell text (a script path) that returns once open() was called, or after
// `bound` so that a broken test fails instead of hanging. For playbook `run:` steps and
// services' restart commands that must still be running when the test acts.
class Gate {
 public:
  explicit Gate(std::chrono::seconds bound = std::chrono::seconds(120));
  ~Gate();
  std::string command() const { return "sh " + m_dir + "/wait.sh"; }
  void open() const;

 private:
  std::string m_dir;
};

// Polls `done` every 20 ms until it returns true or `bound` passed; returns the last answer.
// Waiting on an event (a row, a lock, a line of output) instead of on time; the bound is
// generous because a passing run never reaches it, and a loaded machine must not fail a test.
bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds bound = std::chrono::seconds(60));

int free_port();
std::string ferry_binary();
std::string source_dir();
std::string temp_dir(const std::string& prefix);
bool contains(const std::string& haystack, const std::string& needle);

// What a file gains from now on (a server's log while a command runs): its size is taken at
// construction, appended() reads what was written after it.
class FileTail {
 public:
  explicit FileTail(std::string path);
  std::string appended() const;

 private:
  std::string m_path;
  std::streamoff m_from;
};

}  // namespace ferry::test
