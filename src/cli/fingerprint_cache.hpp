// `ferry status`'s schema fingerprint, remembered between runs in STATE_DIR/fingerprints/ under
// the catalogs' signature (db::catalog_signature), as ccache remembers a compilation under its
// inputs' hash. Only `status` uses it: plan, run, backups and proofs always compute the
// fingerprint afresh.
//
// A remembered fingerprint is shown only when the signature read now equals the one it was
// computed under, and two runs computed it with the same result under that signature, the
// second between two equal signatures (nothing committed while it computed). A change made and
// undone while one run computed cannot be remembered: the other run's result differs. The first
// status after a change reads the signature and computes it (~1/3 more server time than without
// the cache), the second computes it between two signatures, the next ones read only the
// signature (~1/3 of the fingerprint's time).
// Anything else (no entry, another signature, a damaged or foreign file, a directory that cannot
// be written) computes the fingerprint as before; the cache never makes status fail.
#pragma once
#include <string>

#include "db/pg.hpp"

namespace ferry::cli {

struct Fingerprint {
  std::string value;
  bool remembered = false;  // shown from the cache, not computed by this run
};

// `key` names the database as the configuration reaches it (environment, host, port, name,
// user): one file per key, named by its sha256.
Fingerprint status_fingerprint(db::Connection& conn, const std::string& state_dir, const std::string& key);

}  // namespace ferry::cli
