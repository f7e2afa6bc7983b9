// A --metrics-file read back with prometheus_client's own parser (Debian's python3), so tests
// check the Prometheus text format as node_exporter would read it.
#pragma once
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "support/fixtures.hpp"
#include "transport/transport.hpp"

namespace ferry::test {

// "name{k=v,...}" (labels sorted) -> value; an empty object (and a test failure) when the file
// does not parse.
inline nlohmann::json prometheus_samples(const Project& project, const std::string& path) {
  project.write("parse.py",
                "import sys, json\nfrom prometheus_client.parser import text_string_to_metric_families\nout = {}\n"
                "for fam in text_string_to_metric_families(open(sys.argv[1]).read()):\n"
                "    for s in fam.samples:\n"
                "        out[s.name + '{' + ','.join(k + '=' + v for k, v in sorted(s.labels.items())) + '}'] = "
                "s.value\nprint(json.dumps(out))\n");
  ferry::transport::LocalTransport t;
  ferry::transport::Command c;
  c.argv = {"/usr/bin/python3", project.path("parse.py"), path};
  auto r = t.run(c);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  return r.exit_code == 0 ? nlohmann::json::parse(r.out) : nlohmann::json::object();
}

}  // namespace ferry::test
