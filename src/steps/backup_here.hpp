// The backup pipeline run inside ferry when the backup is kept on this machine (backup.on is a
// local connection, custom format): pg_dump's stdout (here, or streamed from database.tools'
// connection) is compressed with libzstd, written to the partial file and hashed (sha256) as
// it comes, and the compressed bytes are decompressed again into `pg_restore -f /dev/null`, so
// the verification reads back the very bytes that go into the file, whole. Three processes
// (ferry, pg_dump, pg_restore) where the shell pipeline, which remote hosts keep, runs about a
// dozen. Not a public API: steps/backup.cpp uses it.
#pragma once
#include <memory>
#include <string>

#include "steps/context.hpp"
#include "transport/local_partial_file.hpp"

namespace ferry::steps::detail {

// What a pipeline (this one or the script) produced: the published file, or why there is none.
struct DumpOutcome {
  std::string error;  // empty: the backup is written, verified and published
  long long size = 0;
  std::string sha256;
  std::string compression;
  std::string file;
  // dump_here's verified file, not yet under its name: the caller publishes it once the
  // snapshot's facts are read, so a stop or a failed count before then leaves no file.
  std::shared_ptr<transport::LocalPartialFile> pending;
};

// True when the backup is taken by dump_here rather than by the script: backup.on is a local
// connection, the format custom, pg_dump runs here or streams from elsewhere (not from a
// container here: the script runs there), and the zstd program is installed (restores use it;
// without it the script falls back to pg_dump's own compression, as before).
bool dumps_here(const config::Environment& env);

// Runs the pipeline for backup `id` in the exported `snapshot`. A stop (SIGINT/SIGTERM) ends
// pg_dump and pg_restore at once; the partial file is removed on every failure. Never throws:
// a failure is the outcome's error.
DumpOutcome dump_here(StageContext& ctx, const std::string& id, const std::string& snapshot,
                      const std::string& step_label);

}  // namespace ferry::steps::detail
