// `muchator serve`: the OpenAI-compatible chat server and the web chat page (docs/serving.md).
#include <pthread.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "cli/command.h"
#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "core/strings.h"
#include "core/threads.h"
#include "infer/flags.h"
#include "infer/rerank_flags.h"
#include "serve/server.h"
#include "text/flags.h"

namespace muchator::cli {
namespace {

class ServeCommand : public Command {
 public:
  std::string name() const override { return "serve"; }
  std::string description() const override {
    return "Serve a trained checkpoint: OpenAI-compatible POST /v1/chat/completions (streaming), "
           "/v1/recommend, "
           "/v1/feedback, /v1/models, /health, /metrics, and the web chat page at /";
  }
  void Declare(Options& opts) override {
    AddPath(opts, PathFlag::kRun, &o_.run,
            "a pipeline run directory: serves its GRPO checkpoint (else SFT, else pre-trained) "
            "with its store and ranker");
    AddPath(opts, PathFlag::kModel, &o_.model,
            "checkpoint directory to serve instead of the run's");
    AddStore(opts, &o_.store,
             "SQLite store: listeners' profiles and history; feedback is written here (default "
             "RUN/store.sqlite)");
    AddPath(opts, PathFlag::kRanker, &o_.ranker,
            "ranking model directory for the songs' scores (default RUN/ranker when present)");
    opts.Add("model-name", &o_.model_name, "model id clients send (default muchator-<checkpoint>)");
    opts.Add("host", &o_.host,
             "address to bind; 127.0.0.1 = this machine only, 0.0.0.0 = every interface");
    opts.Add(kPortFlag, &o_.port);
    opts.Add("port-file", &o_.port_file,
             "write the port here once listening (for scripts with --port 0)");
    opts.Add("api-key-file", &key_file_,
             "file with one API key per line: clients must send 'Authorization: Bearer KEY' "
             "(also MUCHATOR_API_KEYS=k1,k2); none = no authentication");
    opts.Add("max-body-bytes", &o_.max_body_bytes, "largest request body").Range(1024, 1e9);
    opts.Add("max-messages", &o_.max_messages, "most messages in one chat request").Range(1, 1e6);
    opts.Add(kMaxTokensFlag, &o_.max_tokens, "largest max_tokens a request may ask for")
        .Range(8, 1e6);
    opts.Add("default-max-tokens", &o_.default_max_tokens, "max_tokens when a request gives none")
        .Range(8, 1e6);
    opts.Add("max-songs", &o_.max_songs, "largest number of songs a request may ask for")
        .Range(1, 100);
    opts.Add("max-n", &o_.max_n, "largest n (answers per request)").Range(1, 64);
    opts.Add("rate-limit", &o_.rate_limit,
             "requests per minute per API key (per client address without keys); 0 = off")
        .Range(0, 1e9);
    opts.Add("address-rate-limit", &o_.address_rate_limit,
             "requests per minute per client address, with API keys or without; 0 = off")
        .Range(0, 1e9);
    opts.Add("read-timeout", &o_.read_timeout_s,
             "seconds a client may send nothing while its request is being read before it is "
             "disconnected (slow clients)")
        .Range(1, 3600);
    opts.Add("keep-alive-timeout", &o_.keep_alive_timeout_s,
             "seconds a kept-alive connection may sit idle between requests before it is closed "
             "(at most --read-timeout); stopping the server waits for idle connections this long")
        .Range(1, 3600);
    opts.Add("cors-origin", &o_.cors_origins,
             "origins whose web pages may call the API (e.g. https://app.example.com), "
             "comma-separated; empty = CORS off: no Access-Control-* header is ever sent");
    opts.Add("request-timeout", &o_.request_timeout_s,
             "seconds an answer may take before it is cancelled (504)")
        .Range(0.1, 86400);
    opts.Add("max-batch", &o_.max_batch, "sequences decoded together (continuous batching)")
        .Range(1, 1024);
    opts.Add("http-threads", &o_.http_threads,
             "connections handled at once (a streaming client holds one)")
        .Range(2, 4096);
    opts.Add(kHistoryFlag, &o_.history).Range(0, 1000);
    opts.Add(kTemperatureFlag, &o_.temperature, "sampling temperature when a request gives none")
        .Range(0, 2);
    opts.Add(kTopPFlag, &o_.top_p, "top_p when a request gives none");
    opts.Add("prefix-cache-mb", &o_.prefix_cache_mb,
             "KV cache of listeners' contexts kept for their next request")
        .Range(0, 1e6);
    DeclareRerankFlags(opts, {&o_.rerank_pool, &o_.rerank_model_weight, &o_.rerank_evidence_weight,
                              &o_.rerank_source, &o_.rerank_prior_weight,
                              &o_.rerank_ranker_prior_weight, &o_.prior_split, &o_.prior_requests});
    AddThreads(opts, &threads_);
  }

  int Run(const Options& opts) override {
    // SIGINT/SIGTERM are taken by a thread (sigwait) so the server stops cleanly; every other
    // thread, started below, inherits the blocked mask.
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
    std::signal(SIGPIPE, SIG_IGN);
    SetupThreads(static_cast<int>(threads_));
    if (!key_file_.empty()) {
      for (const auto& line : Split(ReadFile(key_file_), '\n'))
        if (const std::string k = Trim(line); !k.empty() && k[0] != '#') o_.api_keys.push_back(k);
      if (o_.api_keys.empty()) throw Error("no API key in the file", key_file_, "one key per line");
    }
    if (const char* env = std::getenv("MUCHATOR_API_KEYS"))
      for (const auto& k : Split(env, ','))
        if (!Trim(k).empty()) o_.api_keys.push_back(Trim(k));
    ChatServer server(o_);
    const int port = server.Bind();
    // Next to the store (feedback is the server's output); "." when the store path has no
    // directory.
    const std::filesystem::path store_path(o_.store.empty() ? o_.run + "/store.sqlite" : o_.store);
    const std::filesystem::path cfg_dir =
        store_path.has_parent_path() ? store_path.parent_path() : ".";
    opts.WriteEffective((cfg_dir / "serve.config.toml").string());
    std::printf(
        "muchator serve: listening on http://%s:%d/ (chat page at /, API at /v1; Ctrl-C stops)%s\n",
        o_.host.c_str(), port, o_.api_keys.empty() ? "" : " - API keys required");
    std::fflush(stdout);
    std::thread waiter([&] {
      int sig = 0;
      sigwait(&sigs, &sig);
      spdlog::info("signal {}: stopping the server", sig);
      server.Stop();
    });
    server.Listen();
    // Listen returned on its own (not by a signal): wake the waiter.
    pthread_kill(waiter.native_handle(), SIGTERM);
    waiter.join();
    return 0;
  }

 private:
  ServeOptions o_;
  std::string key_file_;
  int64_t threads_ = 0;
};

}  // namespace

std::unique_ptr<Command> MakeServeCommand() { return std::make_unique<ServeCommand>(); }

}  // namespace muchator::cli
