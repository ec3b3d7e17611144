#include "core/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "core/error.h"

namespace muchator {

ChildProcess::ChildProcess(const std::vector<std::string>& argv, const std::string& log_path,
                           const std::vector<std::pair<std::string, std::string>>& env) {
  if (argv.empty()) throw Error("internal: a child process without a command");
  const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log < 0)
    throw Error(std::string("cannot open the child's log: ") + std::strerror(errno), log_path,
                "check that its directory exists and is writable");
  // Everything the child needs is built before fork: between fork and exec only
  // async-signal-safe calls are allowed in a multi-threaded parent.
  std::vector<std::string> args = argv;
  std::vector<char*> cargv;
  for (auto& a : args) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  std::vector<std::string> env_text;
  for (const auto& [k, v] : env) env_text.push_back(k + "=" + v);
  std::vector<char*> cenv;
  for (char** e = environ; *e; ++e) {
    bool replaced = false;
    for (const auto& [k, v] : env)
      replaced |= std::strncmp(*e, k.c_str(), k.size()) == 0 && (*e)[k.size()] == '=';
    if (!replaced) cenv.push_back(*e);
  }
  for (auto& e : env_text) cenv.push_back(e.data());
  cenv.push_back(nullptr);
  const pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ < 0) {
    ::close(log);
    throw Error(std::string("fork failed: ") + std::strerror(errno), log_path,
                "too many processes, or too little memory?");
  }
  if (pid_ == 0) {
    // Dies with the parent; if the parent is already gone, the death signal will never come.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(137);
    ::dup2(log, STDOUT_FILENO);
    ::dup2(log, STDERR_FILENO);
    ::execve(cargv[0], cargv.data(), cenv.data());
    const char msg[] = "error: could not start the child process\n";
    [[maybe_unused]] const ssize_t w = ::write(STDERR_FILENO, msg, sizeof msg - 1);
    ::_exit(127);
  }
  ::close(log);
}

ChildProcess::~ChildProcess() { Kill(); }

std::optional<int> ChildProcess::Poll() {
  if (code_ || pid_ <= 0) return code_;
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_)
    code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  else if (r < 0)
    code_ = 127;  // not our child any more: nothing to wait for
  return code_;
}

void ChildProcess::Kill() {
  if (code_ || pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  code_ = 128 + SIGKILL;
}

std::string SelfExecutable() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "/proc/self/exe";
}

}  // namespace muchator
