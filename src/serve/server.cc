#include "serve/server.h"

#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <tuple>
#include <unordered_map>

#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "core/strings.h"
#include "data/store.h"
#include "eval/offline.h"
#include "eval/report.h"
#include "infer/checkpoint.h"
#include "infer/engine.h"
#include "infer/rerank.h"
#include "reward/hybrid.h"
#include "reward/ranker.h"
#include "serve/admission.h"
#include "serve/answer_run.h"
#include "serve/answer_text.h"
#include "serve/chat_stream.h"
#include "serve/dialogue.h"
#include "serve/metrics.h"
#include "serve/request_json.h"
#include "serve/scheduler.h"
#include "serve/web_assets.h"
#include "text/chat.h"
#include "text/languages.h"

namespace muchator {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

void SendJson(httplib::Response& res, int status, const json& j) {
  res.status = status;
  res.set_content(JsonText(j), "application/json");
}
void SendError(httplib::Response& res, const ApiError& e) { SendJson(res, e.status, ErrorJson(e)); }

}  // namespace

struct ChatServer::Impl {
  ServeOptions o;
  Checkpoint ck;
  std::string checkpoint_dir;
  std::unique_ptr<Engine> engine;
  ServerMetrics metrics;
  std::unique_ptr<Scheduler> sched;
  std::unique_ptr<CatalogLookup> lookup;
  std::mutex store_mu;
  std::unique_ptr<Store> store;
  CatalogLanguages languages;  // the catalog's song languages: a request's language constraints
  std::mutex ranker_mu;
  std::optional<Ranker> ranker;
  std::optional<FirstItemScores> first_song;  // the pool's source where the codec allows
  std::vector<float> ranker_prior;            // RankerSongPrior, per catalog song (empty: off)
  std::vector<std::string> some_users;
  httplib::Server http;
  std::string model_id;
  int64_t created = 0;

  // Recent answers by completion id, for feedback that names only the completion.
  struct Session {
    std::string user;
    State state;
    std::vector<std::string> songs;
  };
  std::mutex sessions_mu;
  std::unordered_map<std::string, Session> sessions;
  std::deque<std::string> session_order;
  static constexpr size_t kMaxSessions = 10000;

  std::unique_ptr<Admission> admission;
  std::atomic<uint64_t> next_id{1};

  explicit Impl(ServeOptions opts) : o(std::move(opts)) {
    RunLayout run;
    if (!o.run.empty()) {
      if (!std::filesystem::is_directory(o.run))
        throw Error("no such run directory", o.run,
                    "give --run DIR of a `muchator pipeline --out DIR` run");
      run = ReadRunLayout(o.run);
    }
    std::string ck_name = "model";
    if (o.model.empty()) {
      if (run.checkpoints.empty())
        throw Error("no checkpoint to serve", o.run.empty() ? "--model" : o.run,
                    "give --model CHECKPOINT_DIR, or --run DIR of a pipeline run that trained one");
      ck_name = run.checkpoints.back().first;
      o.model = run.checkpoints.back().second;
    }
    if (o.store.empty()) o.store = run.store;
    if (o.ranker.empty()) o.ranker = run.ranker;
    if (o.store.empty())
      throw Error("no store", "--store",
                  "give --store FILE (listeners' context; feedback is written there) or --run DIR");
    if (o.model_name.empty()) o.model_name = "muchator-" + ck_name;
    model_id = o.model_name;
    created = std::chrono::duration_cast<std::chrono::seconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();

    ck = LoadCheckpoint(o.model);
    if (!ck.grammar)
      throw Error("the checkpoint has no codec.json (the item codec)", o.model,
                  "serve a checkpoint written by the pipeline");
    lookup = std::make_unique<CatalogLookup>(ck.catalog, *ck.codec, *ck.grammar);
    first_song = FirstItemScores::ForSource(o.rerank_source, *ck.codec);
    store = std::make_unique<Store>(o.store, Store::Mode::kReadWrite);
    languages = CatalogLanguages(*store, ck.catalog);
    store->ForEachUser([&](const User& u) {
      if (some_users.size() < 200) some_users.push_back(u.id);
    });
    if (!o.ranker.empty()) ranker.emplace(Ranker::Load(o.ranker));
    EngineOptions eo;
    eo.max_batch = o.max_batch;
    eo.prefix_cache_mb = o.prefix_cache_mb;
    engine = std::make_unique<Engine>(ck.model, *ck.tok, ck.grammar.get(), eo);
    if (first_song && !o.ranker.empty() && o.rerank_pool > 0 && o.rerank_prior_weight != 0) {
      std::vector<float> prior = FirstSongPrior(*store, ck, *engine, *first_song, o.prior_split,
                                                o.prior_requests, o.history);
      if (prior.empty())
        spdlog::warn("no '{}' requests with a listener in {}: the reranked pool has no prior",
                     o.prior_split, o.store);
      else
        spdlog::info("reranked pool: first-song prior of at most {} '{}' requests, weight {}",
                     o.prior_requests, o.prior_split, o.rerank_prior_weight);
      first_song->SetPrior(std::move(prior), o.rerank_prior_weight);
    }
    if (ranker && o.rerank_pool > 0 && o.rerank_ranker_prior_weight != 0) {
      ranker_prior =
          RankerSongPrior(*store, ck.catalog, *ranker, o.prior_split, o.prior_requests, o.history);
      if (ranker_prior.empty())
        spdlog::warn(
            "no '{}' requests with a listener in {}: the ranking model's scores have no prior",
            o.prior_split, o.store);
    }
    sched = std::make_unique<Scheduler>(*engine, &metrics);
    admission = std::make_unique<Admission>(o.api_keys, o.rate_limit, o.address_rate_limit);
    spdlog::info("serving {} ({} songs) as '{}', store {}, ranker {}", o.model,
                 ck.catalog.items.size(), model_id, o.store,
                 o.ranker.empty() ? "none (no scores)" : o.ranker);
    Routes();
  }

  ~Impl() { http.stop(); }

  // ---- Request preparation ----

  struct Prepared {
    Refinement ref;
    UserContext ctx;
    RankerContext rctx;
    std::vector<int> prompt;
    size_t context_tokens = 0;
    std::optional<ConstraintOptions> constraint;
    bool user_known = false;
    bool rerank = false;  // the model lists a pool; the ranking model picks the answer from it
  };

  Prepared Prepare(const AnswerSpec& s) {
    Prepared p;
    p.ref = ReadDialogue(s.messages, *lookup);
    if (p.ref.query.empty())
      throw BadRequest("the request is empty: the last user message has no text", "messages");
    std::vector<int> banned = p.ref.recommended;
    // "no english songs", "only korean songs": hard, as the listener's dislikes are.
    if (const RequestLanguages l = ParseRequestLanguages(p.ref.query); !l.empty()) {
      for (const int it : languages.Banned(l)) banned.push_back(it);
      p.ref.notes.push_back(
          "languages: " + (l.only.empty() ? "" : "only " + JoinStrings(l.only, ", ")) +
          (l.only.empty() || l.excluded.empty() ? "" : "; ") +
          (l.excluded.empty() ? "" : "none in " + JoinStrings(l.excluded, ", ")));
    }
    {
      std::lock_guard l(store_mu);
      if (!s.user.empty()) {
        p.user_known = store->GetUser(s.user).has_value();
        p.ctx = UserContextFromStore(*store, ck.catalog, s.user, kNoTimestamp, o.history);
        // Songs this listener disliked are never recommended to them again.
        for (const auto& e : store->UserTimeline(s.user))
          if (e.feedback == Feedback::kDislike)
            if (const int it = ck.catalog.Find(e.song); it >= 0) banned.push_back(it);
      }
    }
    p.ctx.state = s.state;
    for (int it : p.ref.liked) p.ctx.history.push_back({s.state, it, Feedback::kLike});
    if (ranker) p.rctx = MakeRankerContext(s.user, p.ctx, ck.catalog);
    if (s.constrained) {
      ConstraintOptions c;
      c.num_items = s.songs;
      c.allow_sentence = s.sentence;
      c.one_per_artist = s.one_per_artist;
      for (const auto& id : s.exclude_songs) {
        const int it = ck.catalog.Find(id);
        if (it < 0)
          throw BadRequest("song '" + id + "' is not in the catalog", "muchator.exclude_songs",
                           "unknown_song");
        banned.push_back(it);
      }
      std::sort(banned.begin(), banned.end());
      banned.erase(std::unique(banned.begin(), banned.end()), banned.end());
      c.banned_items = banned;
      c.banned_artists = p.ref.banned_artists;
      for (const auto& a : s.exclude_artists) {
        const int id = lookup->FindArtist(a);
        if (id < 0)
          throw BadRequest("artist '" + a + "' is not in the catalog", "muchator.exclude_artists",
                           "unknown_artist");
        c.banned_artists.push_back(id);
      }
      p.rerank = ranker && s.rerank && o.rerank_pool > s.songs;
      // A listed pool is decoded in full; a first-song pool needs only the answer itself.
      // A listed pool holds at most the grammar's longest list (the context fills near it anyway).
      if (p.rerank && !first_song)
        c.num_items = std::min(o.rerank_pool, ck.grammar->max_items()), c.min_items = s.songs;
      p.constraint = c;
    }
    // The prompt leaves room for the whole list (constrained) or the tokens asked for: the
    // listener's oldest history events give way (FitPrompt); a request still too long is refused
    // by the engine (400 context_length_exceeded), never answered with a list cut short.
    const int room = p.constraint ? ck.grammar->MaxAnswerTokens(*p.constraint)
                                  : std::min(s.max_tokens, engine->max_len() / 2);
    p.prompt = FitPrompt(*ck.tok, *ck.codec, p.ctx, p.ref.query, o.history,
                         engine->max_len() - room, &p.context_tokens)
                   .ids;
    return p;
  }

  // ---- Running a request through the scheduler ----

  using Choice = AnswerChoice;
  using RunState = AnswerRun;

  std::shared_ptr<RunState> Start(const AnswerSpec& s, const Prepared& p) {
    auto run = std::make_shared<RunState>();
    std::vector<SchedulerJob> jobs;
    for (int i = 0; i < s.n; ++i) {
      run->choices.push_back(std::make_unique<Choice>(*ck.tok, ck.codec.get()));
      SchedulerJob job;
      job.request.prompt = p.prompt;
      job.request.cache_prefix = static_cast<int>(p.context_tokens);
      job.request.sampling.temperature = s.temperature;
      job.request.sampling.top_p = s.top_p;
      job.request.sampling.seed = s.seed + static_cast<uint64_t>(i);
      job.request.sampling.max_new_tokens = s.max_tokens;
      // The pool is the server's own working list: its length is the grammar's (and the
      // context's), not the client's max_tokens, which bounds the answer sent.
      if (p.rerank) job.request.sampling.max_new_tokens = engine->max_len();
      job.request.constraint = p.constraint;
      job.cancel = run->cancel;
      Choice* c = run->choices.back().get();
      std::weak_ptr<RunState> weak = run;
      job.on_tokens = [this, weak, c](std::span<const int> tokens) {
        auto r = weak.lock();
        if (!r) return;
        std::lock_guard l(r->m);
        const std::string t = c->text.Feed(tokens);
        if (!c->kept) {
          c->unsent += t;
        } else if (!c->sentence_done) {
          // Reranked: the opening sentence streams as it is decoded (the listener sees the answer
          // begin before the pool is done); the list is written when the pool is.
          const std::string_view sentence = c->Sentence();
          c->unsent += sentence.substr(c->streamed);
          c->streamed = sentence.size();
          c->sentence_done =
              !c->text.text().empty() && (sentence.empty() || sentence.back() == '\n');
        }
        if (!r->first_token) {
          r->first_token = true;
          metrics.FirstToken(std::chrono::duration<double>(Clock::now() - r->start).count());
        }
        r->cv.notify_all();
      };
      if (p.rerank) c->kept.emplace();
      if (p.rerank && first_song)  // the choice lives while its run does
        job.request.logits_hook = [weak, hook = first_song->Hook(&c->first_song_scores)](
                                      std::span<float> logits, std::span<const int> generated) {
          if (auto r = weak.lock()) hook(logits, generated);
        };
      job.on_done = [this, weak, c, rctx = p.rerank ? p.rctx : RankerContext{}, songs = s.songs,
                     constraint = p.rerank ? *p.constraint : ConstraintOptions{},
                     sampling = job.request.sampling](GenerationResult res,
                                                      const std::string& error) {
        auto r = weak.lock();
        if (!r) return;
        std::optional<Reranked> reranked;
        if (c->kept && error.empty()) {
          // The pool: the model's best first songs (sampled at a temperature, seeded per choice),
          // or the songs it listed.
          std::vector<int> pool;
          if (first_song)
            pool = first_song->Pool(c->first_song_scores, o.rerank_pool, constraint, *ck.grammar,
                                    sampling.temperature, sampling.seed);
          else
            pool = ParseAnswer(*ck.tok, *ck.codec, res.tokens).items;
          reranked = Rerank(pool, rctx, songs,
                            PoolEvidence(first_song ? &*first_song : nullptr,
                                         o.rerank_evidence_weight, c->first_song_scores, pool));
        }
        std::lock_guard l(r->m);
        const std::string t = c->text.Flush();
        if (reranked) {
          c->kept = std::move(reranked->items);
          c->kept_scores = std::move(reranked->scores);
          c->reranked_text = std::string(c->Sentence()) + reranked->lines;
          c->unsent += c->reranked_text.substr(std::min(c->streamed, c->reranked_text.size()));
        } else {
          c->unsent += t;
        }
        c->result = std::move(res);
        c->error = error;
        c->done = true;
        if (r->AllDone())
          metrics.Latency(std::chrono::duration<double>(Clock::now() - r->start).count());
        r->cv.notify_all();
      };
      jobs.push_back(std::move(job));
    }
    sched->Submit(std::move(jobs));
    return run;
  }

  Clock::time_point Deadline() const {
    return Clock::now() +
           std::chrono::milliseconds(static_cast<int64_t>(o.request_timeout_s * 1000));
  }

  ApiError Timeout() const {
    return {504,
            fmt::format("the answer took longer than the server's time-out ({} s)",
                        o.request_timeout_s),
            "", "timeout", "server_error"};
  }

  // The engine refused a request (e.g. too long for the context): a 400, else a 500.
  static ApiError EngineError(const std::string& error) {
    if (error.find("prompt") != std::string::npos || error.find("long") != std::string::npos)
      return BadRequest(error + " (shorten the conversation or lower max_tokens)", "messages",
                        "context_length_exceeded");
    return {500, error, "", "generation_failed", "server_error"};
  }

  std::vector<FeedbackPrediction> Scores(const RankerContext& rctx, std::span<const int> items) {
    if (!ranker || items.empty()) return {};
    std::vector<int> rows;
    for (int it : items) rows.push_back(ranker->SongRow(ck.catalog.items[it].id));
    std::lock_guard l(ranker_mu);
    return ranker->Predict(rctx, rows);
  }

  // A finished pool's answer: the songs kept (RerankPool, as the evaluation's reranked mode), their
  // ranking-model scores (so the response does not score them twice) and their numbered lines,
  // written as the model writes its own list (the sentence comes first).
  struct Reranked {
    std::vector<int> items;
    std::vector<FeedbackPrediction> scores;
    std::string lines;
  };
  Reranked Rerank(const std::vector<int>& pool, const RankerContext& rctx, int songs,
                  const std::vector<float>& evidence) {
    const std::vector<FeedbackPrediction> preds = Scores(rctx, pool);
    std::vector<float> score;
    for (const auto& p : preds) score.push_back(p.score);
    Reranked out;
    out.items = RerankItems(
        pool, score, ranker_prior, *ck.grammar, songs,
        {o.rerank_model_weight, o.rerank_evidence_weight, o.rerank_ranker_prior_weight}, evidence);
    for (size_t k = 0; k < out.items.size(); ++k) {
      const int it = out.items[k];
      const auto j = static_cast<size_t>(std::find(pool.begin(), pool.end(), it) - pool.begin());
      if (!preds.empty()) out.scores.push_back(preds[j]);
      out.lines += std::to_string(k + 1) + ". " + ck.codec->DisplayText(it) + "\n";
    }
    return out;
  }

  // Songs of one finished choice, with the ranker's scores.
  json ItemsJson(const Choice& c, const Prepared& p, json* invalid) {
    ParsedAnswer a = ParseAnswer(*ck.tok, *ck.codec, c.result.tokens);
    if (c.kept) a.items = *c.kept;
    const std::vector<FeedbackPrediction> preds = c.kept ? c.kept_scores : Scores(p.rctx, a.items);
    json items = json::array();
    for (size_t k = 0; k < a.items.size(); ++k) {
      const auto& it = ck.catalog.items[a.items[k]];
      json j = {{"rank", k + 1},
                {"id", it.id},
                {"title", it.title},
                {"artists", json::array({it.artist})}};
      j["score"] = preds.empty() ? json(nullptr) : json(std::round(preds[k].score * 1000) / 1000);
      items.push_back(std::move(j));
    }
    if (invalid) *invalid = a.invalid_items;
    return items;
  }

  void Remember(const std::string& id, const AnswerSpec& s, const json& items) {
    Session sess{s.user, s.state, {}};
    for (const auto& it : items) sess.songs.push_back(it["id"].get<std::string>());
    std::lock_guard l(sessions_mu);
    sessions[id] = std::move(sess);
    session_order.push_back(id);
    while (session_order.size() > kMaxSessions) {
      sessions.erase(session_order.front());
      session_order.pop_front();
    }
  }

  json Notes(const Prepared& p) const {
    json j = {{"query", p.ref.query}, {"user_known", p.user_known}, {"notes", p.ref.notes}};
    return j;
  }

  std::string NewId(const char* prefix) {
    return fmt::format("{}-{:x}{:06x}", prefix, created, next_id.fetch_add(1));
  }

  // Waits for every choice (non-streaming); throws ApiError on time-out or engine error.
  void Wait(RunState& run) {
    std::unique_lock l(run.m);
    if (!run.cv.wait_until(l, Deadline(), [&] { return run.AllDone(); })) {
      run.cancel->store(true);
      run.cv.wait(l, [&] { return run.AllDone(); });
      throw Timeout();
    }
    for (const auto& c : run.choices)
      if (!c->error.empty()) throw EngineError(c->error);
  }

  // ---- Endpoints ----

  json ChoiceMessageJson(const Choice& c, size_t i, const Prepared& p, json* items_out) {
    json invalid;
    json items = ItemsJson(c, p, &invalid);
    if (items_out) *items_out = items;
    const char* finish = c.finish_reason();
    return {{"index", i},
            {"message", {{"role", "assistant"}, {"content", c.content()}, {"refusal", nullptr}}},
            {"logprobs", nullptr},
            {"finish_reason", finish},
            {"muchator", {{"items", items}, {"invalid_items", invalid}}}};
  }

  json Usage(const RunState& run, size_t prompt) const {
    size_t completion = 0;
    for (const auto& c : run.choices) completion += c->result.tokens.size();
    return {{"prompt_tokens", prompt},
            {"completion_tokens", completion},
            {"total_tokens", prompt + completion}};
  }

  void Chat(const httplib::Request& req, httplib::Response& res) {
    const AnswerSpec s = ParseChatBody(ParseJsonBody(req.body), o, model_id);
    const Prepared p = Prepare(s);
    const std::string id = NewId("chatcmpl");
    auto run = Start(s, p);
    if (!s.stream) {
      Wait(*run);
      json choices = json::array(), first_items;
      for (size_t i = 0; i < run->choices.size(); ++i)
        choices.push_back(
            ChoiceMessageJson(*run->choices[i], i, p, i == 0 ? &first_items : nullptr));
      metrics.Tokens(static_cast<int>(p.prompt.size()),
                     static_cast<int>(Usage(*run, 0)["completion_tokens"].get<size_t>()));
      json out = {{"id", id},
                  {"object", "chat.completion"},
                  {"created", Now()},
                  {"model", model_id},
                  {"choices", choices},
                  {"usage", Usage(*run, p.prompt.size())},
                  {"system_fingerprint", nullptr}};
      json extra = Notes(p);
      extra["items"] = first_items;
      out["muchator"] = extra;
      Remember(id, s, first_items);
      SendJson(res, 200, out);
      return;
    }
    // Server-sent events: a role chunk, content chunks as text completes, a last chunk per
    // choice with finish_reason (and its songs under `muchator`), optional usage, [DONE].
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
    const ChatStream events(id, model_id, Now());
    struct StreamState {
      bool started = false, finished = false;
      Clock::time_point deadline;
    };
    auto st = std::make_shared<StreamState>();
    st->deadline = Deadline();
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, run, st, events, s, p, id](size_t, httplib::DataSink& sink) {
          if (st->finished) {
            sink.done();
            return true;
          }
          std::string out;
          if (!st->started) {
            st->started = true;
            out += events.Open(run->choices.size());
          }
          bool timed_out = false, all_reported = false;
          std::vector<std::pair<size_t, std::string>> deltas;
          std::vector<size_t> finals;
          std::string error;
          {
            std::unique_lock l(run->m);
            auto ready = [&] {
              for (const auto& c : run->choices)
                if (!c->unsent.empty() || (c->done && !c->reported)) return true;
              return false;
            };
            if (!run->cv.wait_until(
                    l, std::min(st->deadline, Clock::now() + std::chrono::milliseconds(200)),
                    ready) &&
                Clock::now() >= st->deadline) {
              run->cancel->store(true);
              timed_out = true;
            }
            for (size_t i = 0; i < run->choices.size(); ++i) {
              auto& c = *run->choices[i];
              if (!c.unsent.empty()) deltas.emplace_back(i, std::move(c.unsent)), c.unsent.clear();
              if (c.done && !c.reported) {
                c.reported = true;
                finals.push_back(i);
                if (!c.error.empty()) error = c.error;
              }
            }
            all_reported = true;
            for (const auto& c : run->choices) all_reported = all_reported && c->reported;
          }
          for (auto& [i, text] : deltas) out += events.Text(i, text);
          if (!error.empty() || timed_out) {
            out += ChatStream::Fail(timed_out ? Timeout() : EngineError(error));
            st->finished = true;
          } else {
            for (size_t i : finals) {
              const auto& c = *run->choices[i];
              json invalid;
              const json items = ItemsJson(c, p, &invalid);
              if (i == 0) Remember(id, s, items);
              out += events.Finish(i, c.finish_reason(), items, invalid);
            }
            if (all_reported) {
              if (s.include_usage) out += events.Usage(Usage(*run, p.prompt.size()), Now());
              out += ChatStream::End(Notes(p));
              metrics.Tokens(static_cast<int>(p.prompt.size()),
                             static_cast<int>(Usage(*run, 0)["completion_tokens"].get<size_t>()));
              st->finished = true;
            }
          }
          if (!out.empty() && !sink.write(out.data(), out.size())) return false;
          if (st->finished) sink.done();
          return true;
        },
        [run](bool success) {
          if (!success) run->cancel->store(true);  // the client went away: stop decoding for it
        });
  }

  void Recommend(const httplib::Request& req, httplib::Response& res) {
    const AnswerSpec s = ParseRecommendBody(ParseJsonBody(req.body), o);
    const Prepared p = Prepare(s);
    auto run = Start(s, p);
    Wait(*run);
    json invalid;
    const auto& c = *run->choices[0];
    json items = ItemsJson(c, p, &invalid);
    const std::string id = NewId("rec");
    Remember(id, s, items);
    json out = Notes(p);
    out["id"] = id;
    out["user"] = s.user;
    out["state"] = StateJson(s.state);
    out["items"] = items;
    out["invalid_items"] = invalid;
    out["text"] = c.content();
    out["finish_reason"] = c.finish_reason();
    out["usage"] = Usage(*run, p.prompt.size());
    SendJson(res, 200, out);
  }

  void FeedbackEndpoint(const httplib::Request& req, httplib::Response& res) {
    const FeedbackSpec f = ParseFeedbackBody(ParseJsonBody(req.body));
    std::optional<Session> sess;
    if (f.completion_id) {
      std::lock_guard l(sessions_mu);
      if (auto it = sessions.find(*f.completion_id); it != sessions.end())
        sess = it->second;
      else
        throw ApiError{404,
                       "no recent answer with id '" + *f.completion_id +
                           "' (the server keeps the last 10,000)",
                       "completion_id", "unknown_completion", "invalid_request_error"};
    }
    Event e;
    e.song = f.song;
    e.feedback = f.feedback;
    e.user = f.user.value_or(sess ? sess->user : "");
    if (e.user.empty())
      throw BadRequest("'user' is required (or a 'completion_id' whose request named one)", "user",
                       "missing_required_parameter");
    e.state = f.state ? *f.state : (sess ? sess->state : State{});
    if (f.play_s) e.play_s = *f.play_s;
    if (ck.catalog.Find(e.song) < 0)
      throw ApiError{404, "song '" + e.song + "' is not in the catalog", "song", "unknown_song",
                     "invalid_request_error"};
    e.ts = Now();
    {
      std::lock_guard l(store_mu);
      store->RecordEvent(e);
    }
    SendJson(res, 200, StoredEventJson(e));
  }

  static int64_t Now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  // Authentication and rate limit for /v1/* (serve/admission.h); returns false (with the error
  // set) to refuse.
  bool Admit(const httplib::Request& req, httplib::Response& res) {
    const Admission::Verdict v =
        admission->Admit(req.get_header_value("Authorization"), req.remote_addr);
    if (v.admitted) return true;
    if (v.retry_after_s > 0) res.set_header("Retry-After", std::to_string(v.retry_after_s));
    SendError(res, v.error);
    return false;
  }

  // Wraps an endpoint: admission, errors as JSON, counting.
  httplib::Server::Handler Endpoint(std::string name, bool api,
                                    void (Impl::*fn)(const httplib::Request&, httplib::Response&)) {
    return [this, name, api, fn](const httplib::Request& req, httplib::Response& res) {
      try {
        if (!api || Admit(req, res)) (this->*fn)(req, res);
      } catch (const ApiError& e) {
        SendError(res, e);
      } catch (const Error& e) {
        SendError(res, BadRequest(e.problem() + (e.hint().empty() ? "" : " (" + e.hint() + ")")));
      } catch (const std::exception& e) {
        spdlog::error("{} {}: {}", req.method, req.path, e.what());
        SendError(res, {500, std::string("internal error: ") + e.what(), "", "internal_error",
                        "server_error"});
      }
      // A streamed answer's status is set by the library after the handler returns (200).
      metrics.Request(name, res.status < 0 ? 200 : res.status);
    };
  }

  void Health(const httplib::Request&, httplib::Response& res) {
    SendJson(res, 200,
             {{"status", "ok"},
              {"model", model_id},
              {"songs", ck.catalog.items.size()},
              {"running", sched->running()},
              {"queued", sched->queued()},
              {"ranker", ranker.has_value()}});
  }
  void Metrics(const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics.Render(sched->queued(), sched->running()), "text/plain; version=0.0.4");
  }
  void Models(const httplib::Request&, httplib::Response& res) {
    SendJson(res, 200,
             {{"object", "list"},
              {"data", json::array({{{"id", model_id},
                                     {"object", "model"},
                                     {"created", created},
                                     {"owned_by", "muchator"}}})}});
  }
  void Users(const httplib::Request&, httplib::Response& res) {
    json data = json::array();
    for (const auto& u : some_users) data.push_back({{"id", u}});
    SendJson(res, 200, {{"object", "list"}, {"data", data}});
  }

  void Routes() {
    http.new_task_queue = [n = o.http_threads] {
      return new httplib::ThreadPool(static_cast<size_t>(n));
    };
    http.set_payload_max_length(static_cast<size_t>(o.max_body_bytes));
    http.set_read_timeout(std::chrono::seconds(o.read_timeout_s));
    http.set_write_timeout(std::chrono::seconds(30));
    // A connection idle between requests is closed after --keep-alive-timeout (5 s), or sooner
    // with a shorter read time-out: after a request that failed to arrive (a slow client) the
    // library waits that long for the next one, so without the cap `--read-timeout 1`
    // disconnected a slow client after 6 s.
    http.set_keep_alive_timeout(std::min(o.keep_alive_timeout_s, o.read_timeout_s));
    // The library closes a kept-alive connection after 5 requests by default; a client that
    // just sent its next request on it then sees a reset. Conversations reuse one connection.
    http.set_keep_alive_max_count(1000);
    // CORS, only for the configured origins: their pages may read the API's answers (the header
    // names the origin that asked), and their preflights are answered. Everyone else's browser
    // gets no CORS header and keeps its pages from reading ours.
    if (!o.cors_origins.empty()) {
      auto allowed = [this](const httplib::Request& req) {
        const std::string origin = req.get_header_value("Origin");
        return !origin.empty() && std::find(o.cors_origins.begin(), o.cors_origins.end(), origin) !=
                                      o.cors_origins.end();
      };
      http.set_post_routing_handler([allowed](const httplib::Request& req, httplib::Response& res) {
        if (!allowed(req)) return;
        res.set_header("Access-Control-Allow-Origin", req.get_header_value("Origin"));
        res.set_header("Vary", "Origin");
      });
      http.Options(R"(/.*)", [allowed](const httplib::Request& req, httplib::Response& res) {
        res.status = 204;
        if (!allowed(req)) return;
        res.set_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
        res.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type");
        res.set_header("Access-Control-Max-Age", "600");
      });
    }
    http.Post("/v1/chat/completions", Endpoint("chat", true, &Impl::Chat));
    http.Post("/v1/recommend", Endpoint("recommend", true, &Impl::Recommend));
    http.Post("/v1/feedback", Endpoint("feedback", true, &Impl::FeedbackEndpoint));
    http.Get("/v1/models", Endpoint("models", true, &Impl::Models));
    http.Get("/v1/users", Endpoint("users", true, &Impl::Users));
    http.Get("/health", Endpoint("health", false, &Impl::Health));
    http.Get("/metrics", Endpoint("metrics", false, &Impl::Metrics));
    for (const auto& a : WebAssets()) {
      const std::string path = a.path == "index.html" ? "/" : "/" + a.path;
      http.Get(path, [a](const httplib::Request&, httplib::Response& res) {
        res.set_content(std::string(a.data), a.mime);
        res.set_header("Cache-Control", "no-cache");
      });
    }
    // Anything that ended in an error without a body (unknown path, wrong method, a body over
    // the size limit) still gets an OpenAI-style JSON error.
    http.set_error_handler(httplib::Server::HandlerWithResponse(
        [this](const httplib::Request& req, httplib::Response& res) {
          if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
          std::string msg =
              res.status == 413
                  ? fmt::format("the request body is larger than the server's limit ({} bytes)",
                                o.max_body_bytes)
              : res.status == 404 ? "no such endpoint: " + req.method + " " + req.path
              : res.status == 405
                  ? "method " + req.method + " is not allowed on " + req.path
                  : "the request could not be read (HTTP " + std::to_string(res.status) + ")";
          const int status = res.status;
          SendError(res, {status, msg, "",
                          status == 413   ? "request_too_large"
                          : status == 404 ? "not_found"
                                          : "bad_request",
                          ""});
          metrics.Request("other", status);
          return httplib::Server::HandlerResponse::Handled;
        }));
    http.set_exception_handler(
        [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
          std::string what = "unknown";
          try {
            std::rethrow_exception(ep);
          } catch (const std::exception& e) {
            what = e.what();
          } catch (...) {
          }
          SendError(res, {500, "internal error: " + what, "", "internal_error", "server_error"});
        });
  }
};

ChatServer::ChatServer(ServeOptions o) : impl_(std::make_unique<Impl>(std::move(o))) {}
ChatServer::~ChatServer() = default;

int ChatServer::Bind() {
  auto& i = *impl_;
  int port = i.o.port;
  if (port == 0) {
    port = i.http.bind_to_any_port(i.o.host);
    if (port < 0) throw Error("cannot bind a port on " + i.o.host, "--host", "check the address");
  } else if (!i.http.bind_to_port(i.o.host, port)) {
    throw Error(fmt::format("cannot listen on {}:{} (in use, or not allowed)", i.o.host, port),
                "--port", "choose another --port, or 0 for any free port");
  }
  if (!i.o.port_file.empty()) WriteFileAtomic(i.o.port_file, std::to_string(port) + "\n");
  return port;
}

void ChatServer::Listen() { impl_->http.listen_after_bind(); }
void ChatServer::Stop() { impl_->http.stop(); }

}  // namespace muchator
