// The main job's step cache: every step of `muchator pipeline` is recorded in RUN/steps/ by its
// configuration and inputs, so a re-run with the same settings skips the steps already done and
// resumes the one that was interrupted, and a changed setting redoes that step and everything
// after it.
//
// A step's key is readable TOML-like text: the step's name, the settings it depends on, the
// content digests of input files from outside the run, and the key digest of the step before it
// (so a change anywhere upstream changes every key after it). RUN/steps/<step>.started holds the
// key while the step runs, RUN/steps/<step>.done once it finished; both are plain text a user can
// read to see what a result was made with, or delete to force the step again.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace muchator {

// SHA-256 of `data` as 64 lower-case hex digits (OpenSSL).
std::string Sha256Hex(std::string_view data);

// Content digest of a file or a whole directory tree: SHA-256 over the sorted relative paths and
// the bytes of every regular file (read in blocks; symlinks followed). Throws Error when `path`
// does not exist.
std::string DigestTree(const std::string& path);

class StepCache {
 public:
  // Bump when the outputs of a step change meaning, so old run folders are redone, not reused.
  static constexpr int kVersion = 2;  // 2: history states only where they change

  struct Step {
    std::string name;
    std::string key;                   // the full key text (written to the stamps)
    std::string digest;                // SHA-256 of `key`, what the next step's key names
    std::vector<std::string> outputs;  // paths that must exist for the step to count as done
  };

  explicit StepCache(std::string run_dir) : dir_(std::move(run_dir) + "/steps") {}

  // `settings` are "name = value" lines; `after` is the previous step (nullptr for the first).
  Step Make(const std::string& name, const std::vector<std::string>& settings, const Step* after,
            std::vector<std::string> outputs) const;

  // Finished with this exact key and every output still present.
  bool Done(const Step& s) const;
  // Started with this exact key and never finished (interrupted): the step may resume.
  bool Interrupted(const Step& s) const;
  // Records that the step starts (removes an older .done, writes .started).
  void Start(const Step& s) const;
  // Records that the step finished (writes .done, removes .started).
  void Finish(const Step& s) const;
  // Forgets the step (a step the settings turned off).
  void Forget(const std::string& name) const;

  std::string DonePath(const std::string& name) const { return dir_ + "/" + name + ".done"; }

 private:
  std::string StartedPath(const std::string& name) const { return dir_ + "/" + name + ".started"; }
  std::string dir_;
};

}  // namespace muchator
