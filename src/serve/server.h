// `muchator serve`: the OpenAI-compatible chat server (docs/serving.md).
//
//   POST /v1/chat/completions  OpenAI request/response shapes, SSE streaming, `user` = listener,
//                              extras under `muchator` (state, songs, exclusions, constrained)
//   POST /v1/recommend         structured request -> JSON list
//   POST /v1/feedback          like / finish / skip / dislike on a song -> an event in the store
//   GET  /v1/models, /v1/users, /health, /metrics (Prometheus text), / (the web chat page)
//
// Requests of all connections share decoding batches (serve/scheduler.h). Every error is an
// OpenAI-style JSON object with a 4xx/5xx status.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "text/chat.h"

namespace muchator {

struct ServeOptions {
  std::string run;     // a pipeline run directory: model, store and ranker come from it
  std::string model;   // checkpoint directory (default: the run's grpo, else sft, else pretrained)
  std::string store;   // SQLite store (default: RUN/store.sqlite); feedback is written here
  std::string ranker;  // ranking model directory (default: RUN/ranker when present)
  std::string model_name = "";  // the id in /v1/models (default: muchator-<checkpoint name>)
  std::string host = "127.0.0.1";
  int port = 8080;  // 0 = any free port (printed, and written to port_file)
  std::string port_file;
  std::vector<std::string> api_keys;  // empty = no authentication
  int64_t max_body_bytes = 1 << 20;
  int max_messages = 64;
  int max_tokens = 1024;  // largest max_tokens a request may ask for
  int default_max_tokens = 320;
  int max_n = 8;
  int max_songs = 50;
  double rate_limit =
      0;  // requests per minute per API key (per client address without keys); 0 = off
  double address_rate_limit = 0;  // requests per minute per client address, keys or not; 0 = off
  double request_timeout_s = 60;
  int read_timeout_s =
      10;  // a client that sends nothing for this long is disconnected (slow clients)
  // A kept-alive connection idle this long between requests is closed (capped by read_timeout_s).
  // Stopping waits for idle connections up to this long: cpp-httplib 0.11 joins each
  // connection's thread, which waits out the time-out before it sees the stop.
  int keep_alive_timeout_s = 5;
  // Origins (e.g. "https://app.example.com") whose browser pages may call the API: their requests
  // get Access-Control-Allow-Origin and preflights are answered. Empty = CORS off (no header).
  std::vector<std::string> cors_origins;
  int max_batch = 32;            // sequences decoded together
  int http_threads = 64;         // connections served at once (a streaming client holds one)
  int history = kPromptHistory;  // listener events in the prompt
  double temperature = 0.7;      // when a request gives none
  double top_p = 0.95;
  int prefix_cache_mb = 64;
  // With a ranking model, constrained answers are reranked (docs/metrics.md, "reranked"; the
  // evaluation report's defaults, so the served list is the evaluated one): the model proposes a
  // pool of rerank_pool songs - with rerank_source "first" and a one-token item codec (atomic)
  // its best songs at the answer's first song, scored in one forward pass (sampled without
  // replacement at a temperature above 0); else ("list") a list of that many songs decoded in
  // turn - and the answer is the pool ordered by the ranking model's score (less
  // rerank_ranker_prior_weight x the song's mean score over the prior's listeners) minus
  // rerank_model_weight * log2(1 + the song's place in the pool) plus rerank_evidence_weight x
  // (its first-song key - the pool's best; first pool only), one song per artist while the
  // pool allows. 0 = off (the model's own list, streamed as it is decoded); a request may turn
  // it off with "muchator": {"rerank": false}.
  int rerank_pool = 500;
  double rerank_model_weight = 0;
  double rerank_evidence_weight = 1.0;
  std::string rerank_source = "first";
  // The first-song pool ranks songs by their score minus rerank_prior_weight x their mean
  // first-song log-probability over prior_requests requests of the store's prior_split
  // (computed once at start; FirstSongPrior, as in the evaluation). 0 = off.
  double rerank_prior_weight = 1.0;
  // RankerSongPrior over the same requests (computed once at start). 0 = off.
  double rerank_ranker_prior_weight = 1.0;
  std::string prior_split = "sft";
  int prior_requests = 64;
};

class ChatServer {
 public:
  explicit ChatServer(ServeOptions o);  // loads the model, store and ranker; throws Error
  ~ChatServer();
  int Bind();     // binds host:port, returns the port
  void Listen();  // serves until Stop()
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace muchator
