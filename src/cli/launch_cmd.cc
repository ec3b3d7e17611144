// `muchator launch -n N -- <command> [options]`: starts N local ranks of a data-parallel job (what
// torchrun --nproc-per-node does), each with WORLD_SIZE, RANK, MASTER_ADDR and MASTER_PORT set and
// its share of the cores; when one rank fails the others are stopped and its exit code returned.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <thread>

#include "cli/command.h"
#include "core/error.h"
#include "core/log.h"

namespace muchator::cli {

namespace {

std::vector<std::string>& LaunchTail() {
  static std::vector<std::string> tail;
  return tail;
}

class LaunchCommand : public Command {
 public:
  std::string name() const override { return "launch"; }
  std::string description() const override {
    return "Run N local ranks of a data-parallel training command: muchator launch -n 2 -- "
           "pretrain --corpus DIR "
           "... (docs/distributed.md)";
  }
  void Declare(Options& opts) override {
    opts.Add("nproc", &nproc_, "ranks to start on this machine (also -n N)").Range(1, 1024);
    opts.Add(kPortFlag, &port_, "rendezvous port on 127.0.0.1 (rank 0 hosts it)").Range(1, 65535);
    opts.Add("threads-per-rank", &threads_,
             "compute threads of each rank (0 = the machine's cores divided among the ranks)")
        .Range(0, 1024);
  }
  int Run(const Options&) override {
    const std::vector<std::string>& tail = LaunchTail();
    if (tail.empty())
      throw Error("no command to launch", "launch",
                  "e.g. muchator launch -n 2 -- pretrain --corpus DIR --out DIR");
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    const int threads =
        threads_ > 0 ? static_cast<int>(threads_) : std::max(1, cores / static_cast<int>(nproc_));
    std::vector<pid_t> pids;
    for (int rank = 0; rank < nproc_; ++rank) {
      const pid_t pid = fork();
      if (pid < 0) throw Error("fork failed", "launch", "too many processes?");
      if (pid == 0) {
        setenv("WORLD_SIZE", std::to_string(nproc_).c_str(), 1);
        setenv("RANK", std::to_string(rank).c_str(), 1);
        setenv("MASTER_ADDR", "127.0.0.1", 1);
        setenv("MASTER_PORT", std::to_string(port_).c_str(), 1);
        setenv("MUCHATOR_THREADS", std::to_string(threads).c_str(), 1);
        std::vector<char*> argv;
        std::string self = "muchator";
        argv.push_back(self.data());
        std::vector<std::string> args = tail;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        execv("/proc/self/exe", argv.data());
        std::fprintf(stderr, "error: launch: could not start rank %d\n", rank);
        std::_Exit(127);
      }
      pids.push_back(pid);
    }
    spdlog::info("launch: {} ranks ({} threads each) on 127.0.0.1:{}", nproc_, threads, port_);
    int result = 0;
    for (size_t left = pids.size(); left > 0; --left) {
      int status = 0;
      const pid_t pid = waitpid(-1, &status, 0);
      if (pid < 0) break;
      const int rank = static_cast<int>(std::find(pids.begin(), pids.end(), pid) - pids.begin());
      const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      if (code != 0 && result == 0) {
        result = code;
        std::fprintf(stderr,
                     "error: launch: rank %d exited with code %d; stopping the other ranks\n", rank,
                     code);
        for (size_t i = 0; i < pids.size(); ++i)
          if (static_cast<int>(i) != rank) kill(pids[i], SIGTERM);
      }
    }
    return result;
  }

 private:
  int64_t nproc_ = 2, port_ = 29500, threads_ = 0;
};

}  // namespace

void SetLaunchTail(std::vector<std::string> tail) { LaunchTail() = std::move(tail); }

std::unique_ptr<Command> MakeLaunchCommand() { return std::make_unique<LaunchCommand>(); }

}  // namespace muchator::cli
