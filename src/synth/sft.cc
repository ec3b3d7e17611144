#include "synth/sft.h"

#include <filesystem>

#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "corpus/shard.h"
#include "data/store.h"
#include "infer/engine.h"
#include "text/chat.h"
#include "world/oracle.h"

namespace muchator {
namespace {

// FNV-1a: the held-out users must be the same with every compiler and library (std::hash is not).
uint64_t StableHash(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

}  // namespace

int64_t BuildSftCorpus(Store& store, const Checkpoint& ck, const std::string& ckpt_dir, const std::string& triplets,
                       const std::string& corpus_dir, const SftOptions& o) {
  if (!ck.codec) throw Error("SFT needs the item codec (codec.json) of the checkpoint", ckpt_dir, "use a pre-trained checkpoint of the pipeline");
  MakeDirs(corpus_dir);
  WriteFileAtomic(corpus_dir + "/tokenizer.json", ReadFile(ckpt_dir + "/tokenizer.json"));
  WriteFileAtomic(corpus_dir + "/codec.json", ReadFile(ckpt_dir + "/codec.json"));
  ShardWriter w(corpus_dir, "sft");
  AtomicWriter heldout(corpus_dir + "/sft_heldout.jsonl");
  LineReader reader(triplets);
  std::string line;
  int64_t n = 0, line_no = 0, skipped = 0;
  while (reader.Next(line)) {
    ++line_no;
    if (o.max_examples > 0 && n >= o.max_examples) break;
    nlohmann::json t;
    try {
      t = nlohmann::json::parse(line);
    } catch (const std::exception& e) {
      throw Error(std::string("not JSON: ") + e.what(), triplets + ":" + std::to_string(line_no), "use synth-uq2i's triplets.jsonl");
    }
    if (StableHash(t.at("user").get<std::string>()) % 100 < static_cast<uint64_t>(o.heldout_users_percent)) {
      heldout.WriteLine(line);
      continue;
    }
    std::vector<int> items;
    for (const auto& id : t.at("items")) {
      const int i = ck.catalog.Find(id.get<std::string>());
      if (i >= 0) items.push_back(i);
    }
    if (items.empty()) {
      ++skipped;
      continue;
    }
    UserContext ctx = UserContextFromStore(store, ck.catalog, t.at("user"), t.at("ts").get<int64_t>(), o.history);
    const auto& st = t.at("state");
    ctx.state.time_of_day = st.value("time_of_day", "");
    ctx.state.day_type = st.value("day_type", "");
    ctx.state.context = st.value("context", "");
    ctx.state.device = st.value("device", "");
    ctx.state.hour = st.value("hour", -1);
    TokenSeq doc = RenderPrompt(*ck.tok, *ck.codec, ctx, t.at("query").get<std::string>(), o.history);
    doc.Append(RenderAnswer(*ck.tok, *ck.codec, items));
    w.Add(doc);
    ++n;
  }
  w.Finish();
  heldout.Commit();
  if (skipped) spdlog::warn("{} triplets without a catalog item of this checkpoint were skipped", skipped);
  if (n == 0) throw Error("no SFT examples", triplets, "run synth-uq2i first");
  return n;
}

nlohmann::json EvaluateGeneration(Store& store, Checkpoint& ck, const world::Oracle& oracle,
                                  const GenerationEvalOptions& o) {
  if (!ck.codec || !ck.grammar) throw Error("generation evaluation needs the checkpoint's codec.json");
  std::vector<Query> queries;
  std::vector<world::QueryFacets> facets;
  if (o.triplets.empty()) {
    store.ForEachQuery(
        [&](const Query& q) {
          if (!q.user.empty() && static_cast<int>(queries.size()) < o.queries) queries.push_back(q);
        },
        "test");
    for (const auto& q : queries) facets.push_back(oracle.FacetsOf(q.id));
  } else {
    LineReader reader(o.triplets);
    std::string line;
    while (static_cast<int>(queries.size()) < o.queries && reader.Next(line)) {
      const auto t = nlohmann::json::parse(line);
      Query q;
      q.user = t.at("user");
      q.ts = t.at("ts");
      q.text = t.at("query");
      const auto& st = t.at("state");
      q.state = State{st.value("time_of_day", ""), st.value("day_type", ""), st.value("context", ""),
                      st.value("device", ""), st.value("hour", -1)};
      facets.push_back(oracle.ParseQuery(q.text));
      if (facets.back().count() == 0) {
        facets.pop_back();
        continue;
      }
      queries.push_back(q);
    }
  }
  if (queries.empty()) throw Error("no held-out queries with a user to evaluate", o.triplets.empty() ? store.path() : o.triplets);
  std::vector<std::vector<int>> prompts;
  for (const auto& q : queries) {
    UserContext ctx = UserContextFromStore(store, ck.catalog, q.user, q.ts, o.history);
    ctx.state = q.state;
    prompts.push_back(RenderPrompt(*ck.tok, *ck.codec, ctx, q.text, o.history).ids);
  }
  EngineOptions eo;
  eo.max_batch = 16;
  Engine engine(ck.model, *ck.tok, ck.grammar.get(), eo);
  nlohmann::json out = {{"queries", queries.size()}};
  for (const bool constrained : {true, false}) {
    std::vector<GenerationRequest> reqs;
    for (const auto& p : prompts) {
      GenerationRequest r;
      r.prompt = p;
      r.sampling.max_new_tokens = o.max_new_tokens;
      if (constrained) {
        r.sampling.max_new_tokens = 4096;  // the grammar ends the list
        ConstraintOptions c;
        c.allow_sentence = false;
        r.constraint = c;
      }
      reqs.push_back(std::move(r));
    }
    const auto results = engine.Generate(std::move(reqs));
    double rel = 0, util = 0, fact = 0, formed = 0;
    int64_t util_n = 0;
    for (size_t k = 0; k < results.size(); ++k) {
      const ParsedAnswer a = ParseAnswer(*ck.tok, *ck.codec, results[k].tokens);
      const auto& f = facets[k];
      const double entries = static_cast<double>(a.items.size() + a.invalid_items.size());
      double relevant = 0;
      for (int i : a.items) {
        const std::string& id = ck.catalog.items[static_cast<size_t>(i)].id;
        relevant += oracle.Relevant(f, id);
        util += oracle.Utility(queries[k].user, queries[k].state, id), ++util_n;
      }
      rel += entries > 0 ? relevant / std::max(entries, 10.0) : 0.0;  // missing entries count as misses
      fact += entries > 0 ? a.items.size() / entries : 0.0;
      formed += a.well_formed();
    }
    const double n = static_cast<double>(results.size());
    out[constrained ? "constrained" : "unconstrained"] = {{"relevance_at_10", rel / n},
                                                           {"utility", util_n ? util / util_n : 0.0},
                                                           {"factuality", fact / n},
                                                           {"well_formed", formed / n}};
  }
  return out;
}

}  // namespace muchator
