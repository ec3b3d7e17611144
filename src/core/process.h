// Child processes: another command of this program started beside the caller, its output in a log
// file, and never outliving it.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace muchator {

// One child process running `argv` (argv[0] is the program's path) with `env` added to the
// caller's environment, stdout and stderr appended to `log_path`. The child gets SIGKILL when
// the caller dies (even by SIGKILL), so a killed job leaves no orphan writing into its
// directories. (Linux's parent-death signal follows the thread that started the child: start
// children from a thread that outlives them, e.g. the main thread.) Destroying a running child
// kills it and reaps it.
class ChildProcess {
 public:
  // Throws Error naming `log_path` when the log cannot be opened or fork fails.
  ChildProcess(const std::vector<std::string>& argv, const std::string& log_path,
               const std::vector<std::pair<std::string, std::string>>& env = {});
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // The exit code once it has ended (128 + the signal when a signal ended it), nullopt while it
  // runs. Does not block.
  std::optional<int> Poll();
  // Sends SIGKILL (if still running) and reaps it.
  void Kill();
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  std::optional<int> code_;
};

// This program's own binary (/proc/self/exe), for a child that runs another of its commands.
std::string SelfExecutable();

}  // namespace muchator
