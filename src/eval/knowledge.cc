#include "eval/knowledge.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <set>

#include "core/error.h"
#include "core/rng.h"
#include "corpus/shard.h"
#include "data/store.h"
#include "text/chat.h"
#include "text/special_tokens.h"
#include "world/oracle.h"

namespace muchator {
namespace {

using json = nlohmann::json;

std::vector<int> Encode(const Tokenizer& tok, const std::string& text) {
  TokenSeq t;
  t.Text(tok, text);
  return t.ids;
}

// Shuffles `right` among `wrong` (3 of them); returns the question or nothing when short.
bool Finish(McQuestion& q, std::vector<std::vector<int>> right_and_wrong, Rng& r) {
  if (right_and_wrong.size() < 4) return false;
  std::vector<int> order = {0, 1, 2, 3};
  r.Shuffle(order);
  for (int k : order) q.options.push_back(right_and_wrong[k]);
  q.answer = static_cast<int>(std::find(order.begin(), order.end(), 0) - order.begin());
  return true;
}

// Up to 3 distinct values from `pool` that are not in `exclude`.
std::vector<std::string> Distractors(const std::vector<std::string>& pool,
                                     const std::set<std::string>& exclude, Rng& r) {
  std::vector<std::string> out;
  for (int tries = 0; tries < 200 && out.size() < 3 && !pool.empty(); ++tries) {
    const std::string& v = r.Pick(pool);
    if (!exclude.count(v) && std::find(out.begin(), out.end(), v) == out.end()) out.push_back(v);
  }
  return out;
}

}  // namespace

std::vector<McQuestion> BuildKnowledgeQuestions(Store& store, const Catalog& catalog,
                                                const Tokenizer& tok, const ItemCodec& codec,
                                                const world::Oracle* oracle,
                                                const std::string& general_mcq_path,
                                                const KnowledgeOptions& o) {
  std::vector<McQuestion> out;
  std::map<std::string, std::string> artist_name;
  store.ForEachArtist([&](const Artist& a) { artist_name[a.id] = a.name; });
  std::vector<Song> songs;
  std::set<std::string> genre_set;
  store.ForEachSong([&](const Song& s) {
    if (catalog.Find(s.id) < 0 || s.artists.empty() || !artist_name.count(s.artists[0])) return;
    songs.push_back(s);
    genre_set.insert(s.genres.begin(), s.genres.end());
  });
  std::vector<std::string> names, genres(genre_set.begin(), genre_set.end());
  for (const auto& [id, n] : artist_name) names.push_back(n);
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());

  Rng r = Rng::Derive(o.seed, "knowledge");
  std::vector<size_t> order(songs.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  r.Shuffle(order);
  int n_artist = 0, n_genre = 0;
  for (size_t k : order) {
    const Song& s = songs[k];
    const int item = catalog.Find(s.id);
    const std::string& artist = artist_name[s.artists[0]];
    if (n_artist < o.per_kind) {
      McQuestion q{"artist:" + s.id, "artist", {}, {}, 0};
      q.prompt = Encode(tok, "Song: ");
      const auto& code = codec.Encode(item);
      q.prompt.insert(q.prompt.end(), code.begin(), code.end());
      const auto rest = Encode(tok, "\nTitle: " + s.title + "\nArtist:");
      q.prompt.insert(q.prompt.end(), rest.begin(), rest.end());
      std::vector<std::vector<int>> opts = {Encode(tok, " " + artist)};
      for (const auto& d : Distractors(names, {artist}, r)) opts.push_back(Encode(tok, " " + d));
      if (Finish(q, opts, r)) out.push_back(std::move(q)), ++n_artist;
    }
    if (n_genre < o.per_kind && !s.genres.empty()) {
      McQuestion q{"genre:" + s.id, "genre", codec.Encode(item), {}, 0};
      const auto rest = Encode(tok, " is \"" + s.title + "\", a");
      q.prompt.insert(q.prompt.end(), rest.begin(), rest.end());
      std::vector<std::vector<int>> opts = {Encode(tok, " " + s.genres[0])};
      for (const auto& d :
           Distractors(genres, std::set<std::string>(s.genres.begin(), s.genres.end()), r))
        opts.push_back(Encode(tok, " " + d));
      if (Finish(q, opts, r)) out.push_back(std::move(q)), ++n_genre;
    }
    if (n_artist >= o.per_kind && n_genre >= o.per_kind) break;
  }

  if (oracle) {
    std::vector<Query> queries;
    store.ForEachQuery([&](const Query& q) { queries.push_back(q); }, o.split);
    r.Shuffle(queries);
    int n = 0;
    const auto one = Encode(tok, "1. ");
    for (const auto& query : queries) {
      if (n >= o.per_kind) break;
      const world::QueryFacets f = oracle->FacetsOf(query.id);
      if (f.count() == 0) continue;
      std::vector<std::string> right, wrong;
      for (int tries = 0; tries < 400 && (wrong.size() < 3 || right.empty()); ++tries) {
        const auto& it = catalog.items[r.Below(catalog.items.size())];
        const int g = oracle->Graded(f, it.id);
        if (g == 3 && right.empty())
          right.push_back(it.id);
        else if (g == 0 && wrong.size() < 3 &&
                 std::find(wrong.begin(), wrong.end(), it.id) == wrong.end())
          wrong.push_back(it.id);
      }
      if (right.empty()) {  // relevant songs are rare: take one of the oracle's best
        for (const auto& id : oracle->Best(query.user, query.state, f, 10))
          if (oracle->Relevant(f, id)) {
            right.push_back(id);
            break;
          }
      }
      if (right.empty() || wrong.size() < 3) continue;
      UserContext ctx;
      ctx.state = query.state;
      McQuestion q{
          "q2i:" + query.id, "q2i", RenderPrompt(tok, codec, ctx, query.text, 0).ids, {}, 0};
      q.prompt.insert(q.prompt.end(), one.begin(), one.end());
      std::vector<std::vector<int>> opts = {codec.Encode(catalog.Find(right[0]))};
      for (const auto& id : wrong) opts.push_back(codec.Encode(catalog.Find(id)));
      if (Finish(q, opts, r)) out.push_back(std::move(q)), ++n;
    }
  }

  if (!general_mcq_path.empty()) {
    std::ifstream in(general_mcq_path);
    if (!in)
      throw Error("cannot read the general-knowledge questions", general_mcq_path,
                  "give the world's oracle/general_mcq.jsonl");
    std::string line;
    int line_no = 0;
    // Kinds in this file: "general" (the encyclopedia; rows without a kind) and "paraphrase"
    // (an everyday form -> its concept), each up to per_kind questions.
    std::map<std::string, int> taken;
    while (std::getline(in, line)) {
      ++line_no;
      if (line.empty()) continue;
      json j;
      try {
        j = json::parse(line);
      } catch (const json::exception& e) {
        throw Error(std::string("not a JSON question: ") + e.what(),
                    general_mcq_path + ":" + std::to_string(line_no));
      }
      const std::string kind = j.value("kind", std::string("general"));
      if (kind != "general" && kind != "paraphrase")
        throw Error("unknown question kind '" + kind + "'",
                    general_mcq_path + ":" + std::to_string(line_no), "use general or paraphrase");
      if (taken[kind] >= o.per_kind) continue;
      McQuestion q{
          kind + ":" + j.value("id", std::to_string(line_no)),
          kind,
          // Paraphrase questions are clozes in the everyday corpus's own words: a
          // from-scratch base model has never read a "Question:/Answer:" frame, and
          // behind it scored at chance even where the cloze scored 0.69 (docs/metrics.md).
          Encode(tok, kind == "paraphrase"
                          ? j.at("question").get<std::string>()
                          : "Question: " + j.at("question").get<std::string>() + "\nAnswer:"),
          {},
          j.at("answer").get<int>()};
      for (const auto& opt : j.at("options"))
        q.options.push_back(Encode(tok, " " + opt.get<std::string>()));
      if (q.answer < 0 || q.answer >= static_cast<int>(q.options.size()))
        throw Error("answer index out of range", general_mcq_path + ":" + std::to_string(line_no));
      out.push_back(std::move(q));
      ++taken[kind];
    }
  }
  return out;
}

std::vector<std::vector<OptionScore>> ScoreOptions(Qwen3ForCausalLM& model,
                                                   const std::vector<McQuestion>& questions,
                                                   int rows) {
  struct Seq {
    size_t q, opt;
  };
  std::vector<Seq> seqs;
  std::vector<std::vector<OptionScore>> out(questions.size());
  for (size_t i = 0; i < questions.size(); ++i) {
    out[i].resize(questions[i].options.size());
    for (size_t k = 0; k < questions[i].options.size(); ++k) seqs.push_back({i, k});
  }
  torch::NoGradGuard ng;
  const bool was_training = model->is_training();
  model->eval();
  const int64_t max_pos = model->config().max_position_embeddings;
  for (size_t b0 = 0; b0 < seqs.size(); b0 += rows) {
    const size_t b1 = std::min(seqs.size(), b0 + rows);
    int64_t T = 0;
    for (size_t b = b0; b < b1; ++b) {
      const auto& q = questions[seqs[b].q];
      T = std::max<int64_t>(T, q.prompt.size() + q.options[seqs[b].opt].size());
    }
    if (T > max_pos)
      throw Error("a question is longer than the model's context (" + std::to_string(T) +
                  " tokens)");
    // Right padding: causal attention keeps the real tokens' logits unchanged.
    std::vector<int64_t> ids((b1 - b0) * T, 0);
    for (size_t b = b0; b < b1; ++b) {
      const auto& q = questions[seqs[b].q];
      const auto& opt = q.options[seqs[b].opt];
      int64_t t = 0;
      for (int id : q.prompt) ids[(b - b0) * T + t++] = id;
      for (int id : opt) ids[(b - b0) * T + t++] = id;
    }
    const auto logp =
        torch::log_softmax(model->forward(torch::from_blob(
                               ids.data(), {static_cast<int64_t>(b1 - b0), T}, torch::kInt64)),
                           -1);
    const auto acc = logp.accessor<float, 3>();
    for (size_t b = b0; b < b1; ++b) {
      const auto& q = questions[seqs[b].q];
      const auto& opt = q.options[seqs[b].opt];
      double sum = 0;
      for (size_t j = 0; j < opt.size(); ++j) sum += acc[b - b0][q.prompt.size() + j - 1][opt[j]];
      out[seqs[b].q][seqs[b].opt] = {sum, sum / static_cast<double>(opt.size())};
    }
  }
  if (was_training) model->train();
  return out;
}

json KnowledgeAccuracy(const std::vector<McQuestion>& questions,
                       const std::vector<std::vector<OptionScore>>& scores) {
  std::map<std::string, std::array<double, 3>> k;  // n, right by sum, right by mean
  for (size_t i = 0; i < questions.size(); ++i) {
    const auto& s = scores[i];
    auto best = [&](auto key) {
      return static_cast<int>(std::max_element(s.begin(), s.end(),
                                               [&](const OptionScore& a, const OptionScore& b) {
                                                 return key(a) < key(b);
                                               }) -
                              s.begin());
    };
    auto& c = k[questions[i].kind];
    c[0] += 1;
    c[1] += best([](const OptionScore& x) { return x.sum; }) == questions[i].answer;
    c[2] += best([](const OptionScore& x) { return x.mean; }) == questions[i].answer;
  }
  json out = json::object();
  for (const auto& [kind, c] : k)
    out[kind] = {{"n", static_cast<int>(c[0])}, {"acc", c[1] / c[0]}, {"acc_norm", c[2] / c[0]}};
  return out;
}

nlohmann::json U2iPerplexity::ToJson() const {
  return {{"perplexity", perplexity}, {"nll", nll}, {"docs", docs}, {"item_tokens", tokens}};
}

U2iPerplexity MeasureU2iPerplexity(Qwen3ForCausalLM& model, const Tokenizer& tok,
                                   const std::string& corpus_dir, int64_t max_docs,
                                   int64_t context) {
  torch::InferenceMode guard;
  const bool was_training = model->is_training();
  model->eval();
  const ShardReader reader(corpus_dir, "stage3_heldout");
  std::set<int32_t> feedback;  // loss-masked tokens that are not item tokens
  for (int f = 0; f < 4; ++f) feedback.insert(tok.TokenId(FeedbackToken(f)));
  const int64_t max_pos = model->config().max_position_embeddings;
  const int64_t n = max_docs > 0 ? std::min(max_docs, reader.num_docs()) : reader.num_docs();
  U2iPerplexity out;
  double nll = 0;
  for (int64_t d = 0; d < n; ++d) {
    auto ids = reader.Tokens(d);
    auto mask = reader.Mask(d);
    // The last `context` tokens, widened to hold every scored token and the one before it (so
    // every variant of a table scores the same tokens), within the model's positions.
    size_t first = 0;
    while (first < ids.size() && !(mask[first] && !feedback.count(ids[first]))) ++first;
    if (first == ids.size()) continue;
    const size_t n_ids = ids.size();
    size_t from = n_ids > static_cast<size_t>(context) ? n_ids - context : 0;
    from = std::min(from, first > 0 ? first - 1 : 0);
    if (n_ids - from > static_cast<size_t>(max_pos)) from = n_ids - max_pos;
    std::vector<int64_t> x(ids.begin() + static_cast<std::ptrdiff_t>(from), ids.end());
    std::vector<int64_t> at, target;  // position predicting each item token, and the token
    for (size_t i = from + 1; i < ids.size(); ++i)  // the window's first token has no context
      if (mask[i] && !feedback.count(ids[i]))
        at.push_back(static_cast<int64_t>(i - from) - 1), target.push_back(ids[i]);
    if (at.empty()) continue;
    const auto t = static_cast<int64_t>(x.size());
    const torch::Tensor h =
        model->Hidden(torch::from_blob(x.data(), {1, t}, torch::kInt64), {}, {})[0];  // (T, C)
    const torch::Tensor logits =  // only where an item token is predicted: (N, V)
        torch::matmul(h.index_select(0, torch::tensor(at)), model->LmWeight().t());
    const torch::Tensor lp = torch::log_softmax(logits.to(torch::kFloat32), -1);
    nll -= lp.gather(1, torch::tensor(target).unsqueeze(1)).sum().item<double>();
    out.tokens += static_cast<int64_t>(at.size());
    ++out.docs;
  }
  if (was_training) model->train();
  if (out.tokens == 0)
    throw Error("no held-out item tokens to score", corpus_dir + "/stage3_heldout.index.json",
                "build the corpus with --heldout-tail > 0 and listeners with enough events");
  out.nll = nll / static_cast<double>(out.tokens);
  out.perplexity = std::exp(out.nll);
  return out;
}

}  // namespace muchator
