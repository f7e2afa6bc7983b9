// The files ferry writes for a run, prepared before anything runs: a run must not fail half-way
// because its journal or report cannot be written, and neither may be readable by others
// (they quote row values, response bodies and command output).
#pragma once
#include <string>

namespace ferry::cli {

// Creates DIR and DIR/runs with mode 0700. Existing ones are tightened: runs/ and the journals
// in it always, DIR itself when `own` (the default ROOT/.ferry, not a --state-dir the user
// chose). Throws Error(Config) naming the path when either cannot be created or written.
void prepare_state_dir(const std::string& dir, bool own);

// Creates (or empties) the --report file with mode 0600. Throws Error(Config) naming the path.
void prepare_report_file(const std::string& path);

}  // namespace ferry::cli
