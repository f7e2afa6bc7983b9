// Series written to a --metrics-file outside a run (restore drills): merged with what is
// there and replaced atomically, like the run's metrics reporter (make_metrics_file).
#pragma once
#include <string>
#include <vector>

namespace ferry::report {

struct MetricSample {
  std::string name;    // one of the names metrics.cpp documents (HELP)
  std::string labels;  // label="value",... (values escaped by the caller with metric_label)
  double value = 0;
};

std::string metric_label(const std::string& name, const std::string& value);  // name="escaped value"
// Never throws: a file that cannot be written is a warning in the diagnostics log.
void update_metrics_file(const std::string& path, const std::vector<MetricSample>& samples);

}  // namespace ferry::report
