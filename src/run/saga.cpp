#include "run/saga.hpp"

#include <exception>

namespace ferry::run {

std::string Saga::run(const std::vector<SagaStep*>& steps) {
  for (auto* step : steps) {
    if (std::string why = m_obs.before(*step); !why.empty()) return why;
    m_started.push_back(step);
    m_obs.started(*step);
    try {
      m_obs.finished(*step, step->run());
    } catch (const std::exception& e) {
      std::string why = e.what();
      if (why.empty()) why = "failed";
      m_obs.failed(*step, why);
      return why;
    }
  }
  return "";
}

UndoResult Saga::undo() {
  std::vector<SagaStep*> order;
  std::vector<SagaStep*> last;
  for (auto it = m_started.rbegin(); it != m_started.rend(); ++it) ((*it)->undo_last() ? last : order).push_back(*it);
  order.insert(order.end(), last.begin(), last.end());
  UndoResult out;
  for (size_t i = 0; i < order.size(); ++i) {
    try {
      std::string summary = order[i]->undo();
      if (!summary.empty()) m_obs.undone(*order[i], summary);
    } catch (const std::exception& e) {
      m_obs.undo_failed(*order[i], e.what());
      out.ok = false;
      for (size_t j = i; j < order.size(); ++j) out.remaining.push_back(order[j]->name());
      return out;
    }
  }
  return out;
}

}  // namespace ferry::run
