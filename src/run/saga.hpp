// A saga: run steps in order; after a failure, undo the steps that ran, newest first, and stop
// at the first undo that fails, naming what remains. No database here: the runner adapts its
// playbook steps (and reports through the observer). Models: Sqitch's deploy/revert.
#pragma once
#include <string>
#include <vector>

namespace ferry::run {

class SagaStep {
 public:
  virtual ~SagaStep() = default;
  virtual std::string name() const = 0;
  // Does the work; returns a one-line summary. Throws (an std::exception) when it failed; it
  // may have committed part of its work before failing, so it is undone too.
  virtual std::string run() = 0;
  // Undoes what run() did; returns a summary, "" when there was nothing to undo. Throws when
  // the undo failed.
  virtual std::string undo() = 0;
  // True for an undo that must follow the undo of every other step (a restart reloads what
  // the database undo left); such undos run last, newest first.
  virtual bool undo_last() const { return false; }
};

class SagaObserver {
 public:
  virtual ~SagaObserver() = default;
  // Asked before each step: a reason to stop before it (an interruption, a lost lock), or "".
  virtual std::string before(const SagaStep&) { return ""; }
  virtual void started(const SagaStep&) {}
  virtual void finished(const SagaStep&, const std::string& /*summary*/) {}
  virtual void failed(const SagaStep&, const std::string& /*error*/) {}
  virtual void undone(const SagaStep&, const std::string& /*summary*/) {}
  virtual void undo_failed(const SagaStep&, const std::string& /*error*/) {}
};

struct UndoResult {
  bool ok = true;
  std::vector<std::string> remaining;  // steps not undone (the failed one first), in undo order
};

class Saga {
 public:
  explicit Saga(SagaObserver& observer) : m_obs(observer) {}
  // Runs `steps` in order until one fails or the observer stops it. Returns the failure, ""
  // when every step ran.
  std::string run(const std::vector<SagaStep*>& steps);
  // Undoes every step run() started (the failed one too), newest first (those that ask to be
  // undone last after the others); stops at the first failed undo. May be called again (after
  // a restore, say): each undo must be repeatable.
  UndoResult undo();
  // The steps run() started, in order.
  const std::vector<SagaStep*>& started() const { return m_started; }

 private:
  SagaObserver& m_obs;
  std::vector<SagaStep*> m_started;
};

}  // namespace ferry::run
