#include "corpus/builders.h"

#include <filesystem>
#include <functional>
#include <map>
#include <memory>

#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "core/rng.h"
#include "core/strings.h"
#include "corpus/concept_sentence.h"
#include "data/store.h"
#include "text/chat.h"
#include "text/special_tokens.h"

namespace muchator {

using nlohmann::json;

json CorpusSummary::ToJson() const {
  json j = json::array();
  for (const auto& s : stages) j.push_back(s.ToJson());
  return j;
}

std::string CorpusSummary::Table() const {
  std::string t = "| stage | documents | tokens | loss tokens |\n|---|---|---|---|\n";
  for (const auto& s : stages)
    t += "| " + s.stage + " | " + std::to_string(s.docs) + " | " + std::to_string(s.tokens) +
         " | " + std::to_string(s.loss_tokens) + " |\n";
  return t;
}

namespace {

// A document of text pieces and items (the codec's tokens), all with the same loss flag.
class DocBuilder {
 public:
  DocBuilder(const Tokenizer& tok, const ItemCodec& codec, bool loss)
      : tok_(tok), codec_(codec), loss_(loss) {}
  DocBuilder& Text(const std::string& t) {
    seq_.Text(tok_, t, loss_);
    return *this;
  }
  DocBuilder& Item(int item) {
    if (item < 0 || item >= codec_.num_items())
      throw Error("a document names a song missing from the codec's catalog", "",
                  "rebuild the corpus for this store");
    seq_.Ids(codec_.Encode(item), loss_);
    return *this;
  }
  TokenSeq Done() {
    seq_.Id(tok_.TokenId(tok::kEndOfText), loss_);
    return std::move(seq_);
  }

 private:
  const Tokenizer& tok_;
  const ItemCodec& codec_;
  bool loss_;
  TokenSeq seq_;
};

StageSummary General(Store& store, const Tokenizer& tok, const ItemCodec& codec,
                     const std::string& dir, const CorpusOptions& o) {
  ShardWriter w(dir, "stage0_general", o.shard_tokens);
  store.ForEachDocument([&](const Document& d) {
    if (d.kind != "general") return;
    w.Add(
        DocBuilder(tok, codec, true).Text((d.title.empty() ? "" : d.title + "\n") + d.text).Done());
  });
  return w.Finish();
}

// Concept -> song documents: for each tag and genre of the catalog, its songs as lists ("Songs
// tagged sleep:" then items), in seeded chunks of kConceptListSize, each song listed under every
// tag and genre it has, `concept_list_passes` times in different company.
void ConceptLists(Store& store, const Tokenizer& tok, const ItemCodec& codec,
                  const Catalog& catalog, const CorpusOptions& o, ShardWriter& w) {
  constexpr size_t kConceptListSize = 12;
  std::map<std::string, std::vector<int>> by_tag, by_genre;
  store.ForEachSong([&](const Song& s) {
    const int item = catalog.Find(s.id);
    if (item < 0) return;
    for (const auto& t : s.tags) by_tag[t].push_back(item);
    for (const auto& g : s.genres) by_genre[g].push_back(item);
  });
  // "Songs for {c}." is also how an answer opens (ConceptNamer): the songs an answer lists after
  // naming a concept are then the ones these lists taught for it.
  static const std::vector<std::string> kTagHead = {"Songs for {c}.\n", "Songs tagged {c}:\n"};
  static const std::vector<std::string> kGenreHead = {"Songs for {c}.\n", "Some {c} songs:\n"};
  auto emit = [&](const std::map<std::string, std::vector<int>>& groups,
                  const std::vector<std::string>& heads, const char* salt) {
    for (const auto& [name, items] : groups)
      for (int pass = 0; pass < o.concept_list_passes; ++pass) {
        Rng r = Rng::Derive(o.seed, std::string(salt) + name, static_cast<uint64_t>(pass));
        std::vector<int> order = items;
        r.Shuffle(order);
        for (size_t at = 0; at < order.size(); at += kConceptListSize) {
          std::string head = r.Pick(heads);
          head.replace(head.find("{c}"), 3, name);
          DocBuilder d(tok, codec, true);
          d.Text(head);
          for (size_t k = at; k < std::min(order.size(), at + kConceptListSize); ++k)
            d.Text(std::to_string(k - at + 1) + ". ").Item(order[k]).Text("\n");
          w.Add(d.Done());
        }
      }
  };
  emit(by_tag, kTagHead, "tag-list:");
  emit(by_genre, kGenreHead, "genre-list:");
}

StageSummary Objective(Store& store, const Tokenizer& tok, const ItemCodec& codec,
                       const Catalog& catalog, const std::string& dir, const CorpusOptions& o) {
  ShardWriter w(dir, "stage1_objective", o.shard_tokens);
  std::map<std::string, std::string> artist_name;
  store.ForEachArtist([&](const Artist& a) { artist_name[a.id] = a.name; });
  Progress p("corpus stage1", catalog.items.size(), "songs");
  store.ForEachSong([&](const Song& s) {
    const int item = catalog.Find(s.id);
    std::vector<std::string> artists;
    for (const auto& a : s.artists) artists.push_back(artist_name[a]);
    const std::string by = artists.empty() ? "an unknown artist" : JoinStrings(artists, " & ");
    const std::string genres = s.genres.empty() ? "unknown" : JoinStrings(s.genres, ", ");
    const std::string tags = JoinStrings(s.tags, ", ");
    const std::string year = s.year ? std::to_string(s.year) : "an unknown year";
    DocBuilder d(tok, codec, true);
    Rng r = Rng::Derive(o.seed, "stage1", static_cast<uint64_t>(item));
    // Several templates per kind, so the model learns facts rather than one sentence shape.
    switch (r.Below(3)) {
      case 0:
        d.Item(item).Text(" is \"" + s.title + "\", a " + genres + " song by " + by + " from " +
                          year + (s.album.empty() ? "" : ", on the album " + s.album) + "." +
                          (tags.empty() ? "" : " Tags: " + tags + ".") +
                          (s.language.empty() ? "" : " Language: " + s.language + "."));
        break;
      case 1:
        d.Text(by + " released \"" + s.title + "\" ")
            .Item(item)
            .Text(" in " + year + ". Genre: " + genres + "." +
                  (tags.empty() ? "" : " It is often tagged " + tags + "."));
        break;
      default:
        d.Text("Song: ").Item(item).Text("\nTitle: " + s.title + "\nArtist: " + by +
                                         "\nAlbum: " + (s.album.empty() ? "-" : s.album) +
                                         "\nYear: " + year + "\nGenres: " + genres +
                                         "\nTags: " + (tags.empty() ? "-" : tags));
    }
    if (!s.lyrics.empty()) d.Text("\nLyrics:\n" + s.lyrics);
    w.Add(d.Done());
    p.Add();
  });
  p.Finish();
  store.ForEachDocument([&](const Document& doc) {
    if (doc.kind == "general" || doc.kind == "review") return;
    DocBuilder d(tok, codec, true);
    const int item = doc.song.empty() ? -1 : catalog.Find(doc.song);
    if (item >= 0) d.Item(item).Text("\n");
    w.Add(d.Text((doc.title.empty() || item >= 0 ? "" : doc.title + "\n") + doc.text).Done());
    // The same description the other way round, description first and the song after it:
    // answering a request goes from what is described to the song (a model that has only read
    // "song -> its description" cannot go back: the reversal curse).
    if (item >= 0)
      w.Add(DocBuilder(tok, codec, true).Text(doc.text + "\nThe song: ").Item(item).Done());
  });
  ConceptLists(store, tok, codec, catalog, o, w);
  return w.Finish();
}

StageSummary Subjective(Store& store, const Tokenizer& tok, const ItemCodec& codec,
                        const Catalog& catalog, const std::string& dir, const CorpusOptions& o) {
  ShardWriter w(dir, "stage2_subjective", o.shard_tokens);
  store.ForEachComment([&](const Comment& c) {
    const int item = catalog.Find(c.song);
    DocBuilder d(tok, codec, true);
    d.Text(c.kind == "professional" ? "Review of " : "Comment on ").Item(item).Text(": " + c.text);
    w.Add(d.Done());
  });
  store.ForEachDocument([&](const Document& doc) {
    if (doc.kind != "review") return;
    DocBuilder d(tok, codec, true);
    const int item = doc.song.empty() ? -1 : catalog.Find(doc.song);
    if (item >= 0) d.Text("Review of ").Item(item).Text(": ");
    w.Add(d.Text(doc.text).Done());
  });
  store.ForEachPlaylist([&](const Playlist& pl) {
    DocBuilder d(tok, codec, true);
    d.Text("Playlist: " + pl.title + (pl.description.empty() ? "" : "\n" + pl.description) + "\n");
    for (size_t i = 0; i < pl.songs.size(); ++i)
      d.Text(std::to_string(i + 1) + ". ").Item(catalog.Find(pl.songs[i])).Text("\n");
    w.Add(d.Done());
  });
  // Logged training requests (sft split only: what the platform's search log holds for them): the
  // request, what its liked or finished songs share (ConceptNamer) and those songs, in seeded
  // orders: request -> concept -> songs, the direction the task is answered in, without the
  // listener (UQ2I adds the listener). rl and test requests are never read.
  {
    const ConceptNamer namer(store, catalog);
    store.ForEachQuery(
        [&](const Query& q) {
          std::vector<int> items;
          for (const auto& id : q.relevant)
            if (const int i = catalog.Find(id); i >= 0) items.push_back(i);
          if (items.size() < 3) return;
          const std::string sentence = namer.Sentence(items);
          for (int pass = 0; pass < o.request_doc_passes; ++pass) {
            Rng r = Rng::Derive(o.seed, "request-doc:" + q.id, static_cast<uint64_t>(pass));
            std::vector<int> order = items;
            r.Shuffle(order);
            DocBuilder d(tok, codec, true);
            d.Text("Request: " + q.text + "\n" + (sentence.empty() ? "" : sentence + "\n"));
            for (size_t k = 0; k < std::min<size_t>(10, order.size()); ++k)
              d.Text(std::to_string(k + 1) + ". ").Item(order[k]).Text("\n");
            w.Add(d.Done());
          }
        },
        "sft");
  }
  // Relations, grouped by head so each song's neighbourhood is one document.
  std::map<std::string, std::string> artist_name;
  store.ForEachArtist([&](const Artist& a) { artist_name[a.id] = a.name; });
  std::map<int, std::vector<int>> co;
  std::map<int, std::vector<std::pair<std::string, std::string>>>
      facts;  // song -> (relation, tail text)
  store.ForEachRelation([&](const Relation& r) {
    if (r.head_type == "song") {
      const int h = catalog.Find(r.head);
      if (h < 0) return;
      if (r.tail_type == "song" && r.relation == "co_listen")
        co[h].push_back(catalog.Find(r.tail));
      else if (r.tail_type == "song")
        facts[h].push_back({r.relation, "song:" + r.tail});
      else
        facts[h].push_back({r.relation, r.tail_type == "artist" ? artist_name[r.tail] : r.tail});
    } else if (r.head_type == "artist" && r.relation == "has_genre") {
      w.Add(DocBuilder(tok, codec, true)
                .Text(artist_name[r.head] + " makes " + r.tail + " music.")
                .Done());
    }
  });
  for (auto& [h, tails] : co) {
    DocBuilder d(tok, codec, true);
    d.Text("Listeners of ").Item(h).Text(" also play");
    for (size_t i = 0; i < tails.size(); ++i) d.Text(i ? "," : "").Text(" ").Item(tails[i]);
    w.Add(d.Text(".").Done());
  }
  for (auto& [h, list] : facts) {
    DocBuilder d(tok, codec, true);
    for (const auto& [rel, tail] : list) {
      d.Item(h);
      if (tail.rfind("song:", 0) == 0) {
        d.Text(" " + rel + " ").Item(catalog.Find(tail.substr(5))).Text(".\n");
      } else if (rel == "performed_by") {
        d.Text(" is performed by " + tail + ".\n");
      } else if (rel == "has_genre") {
        d.Text(" belongs to the genre " + tail + ".\n");
      } else {
        d.Text(" " + rel + " " + tail + ".\n");
      }
    }
    w.Add(d.Done());
  }
  return w.Finish();
}

// Appends one behaviour step: state (context), item and feedback (predicted).
// One event: its state (only where it differs from the previous event of the document, `prev`,
// as in the prompt's history: text/chat.h), item and feedback.
void Step(TokenSeq& s, const Tokenizer& tok, const ItemCodec& codec, const Event& e, int item,
          bool loss, const CorpusOptions& o, const Event* prev) {
  if (!o.drop_state && !(prev && StateText(prev->state) == StateText(e.state))) {
    s.Id(tok.TokenId(tok::kState));
    s.Text(tok, StateText(e.state));
  }
  s.Ids(codec.Encode(item), loss);
  if (!o.drop_feedback) s.Id(tok.TokenId(FeedbackToken(static_cast<int>(e.feedback))), loss);
}

TokenSeq UserHeader(const Tokenizer& tok, const User& u, const CorpusOptions& o) {
  TokenSeq s;
  if (!o.drop_profile && !u.profile.empty()) {
    std::string p;
    for (const auto& [k, v] : u.profile) p += (p.empty() ? "" : "; ") + k + ": " + v;
    s.Id(tok.TokenId(tok::kProfile));
    s.Text(tok, p + "\n");
  }
  s.Id(tok.TokenId(tok::kHistory));
  return s;
}

// item_words.jsonl: per catalog song, the codec tokens that only items use (the atomic codec's
// song token, the semantic codec's code tokens; none for the title codec, whose tokens are text)
// and the words that describe it (genres, tags, language). Pre-training starts those tokens'
// embeddings from the words' (train/trainer.h, WarmItemEmbeddings).
void WriteItemWords(Store& store, const Tokenizer& tok, const ItemCodec& codec,
                    const Catalog& catalog, const std::string& out_dir) {
  const std::string path = out_dir + "/" + kItemWordsFile;
  if (codec.name() == "title") {
    std::filesystem::remove(path);
    return;
  }
  const int open = tok.TokenId(tok::kItem), close = tok.TokenId(tok::kItemEnd);
  std::string out;
  store.ForEachSong([&](const Song& s) {
    const int item = catalog.Find(s.id);
    if (item < 0) return;
    std::vector<int> body;
    for (const int t : codec.Encode(item))
      if (t != open && t != close) body.push_back(t);
    std::vector<std::string> words = s.genres;
    words.insert(words.end(), s.tags.begin(), s.tags.end());
    if (!s.language.empty()) words.push_back(s.language);
    out +=
        json{{"song", s.id}, {"tokens", body}, {"words", JoinStrings(words, ", ")}}.dump() + "\n";
  });
  WriteFileAtomic(path, out);
}

// Behaviour and held-out behaviour documents of this rank's users; `train_pos`/`heldout_pos`
// (when given) receive each document's user position in the store's order, for merging.
std::pair<StageSummary, StageSummary> Behaviour(Store& store, const Tokenizer& tok,
                                                const ItemCodec& codec, const Catalog& catalog,
                                                const std::string& dir, const CorpusOptions& o,
                                                std::vector<int64_t>* train_pos = nullptr,
                                                std::vector<int64_t>* heldout_pos = nullptr) {
  ShardWriter train(dir, "stage3_behaviour", o.shard_tokens),
      heldout(dir, "stage3_heldout", o.shard_tokens);
  const int eot = tok.TokenId(tok::kEndOfText);
  std::vector<Event> events;
  int64_t user_pos = -1;
  Progress p("corpus stage3", store.Counts().events, "events");
  auto flush = [&] {
    if (events.empty()) return;
    ++user_pos;
    p.Add(events.size());
    if (o.ranks > 1 && HashString(events[0].user) % static_cast<uint64_t>(o.ranks) !=
                           static_cast<uint64_t>(o.rank)) {
      events.clear();  // another rank's user
      return;
    }
    const User u = *store.GetUser(events[0].user);
    const TokenSeq header = UserHeader(tok, u, o);
    const size_t n = events.size();
    const size_t tail = n >= static_cast<size_t>(o.heldout_tail) + 2 ? o.heldout_tail : 0;
    const size_t train_n = n - tail;
    if (o.drop_history) {  // one document per event; the held-out ones are the tail's events
      for (size_t i = 0; i < n; ++i) {
        TokenSeq doc = header;
        Step(doc, tok, codec, events[i], catalog.Find(events[i].song), true, o, nullptr);
        doc.Id(eot);
        (i < train_n ? train : heldout).Add(doc);
        if (auto* pos = i < train_n ? train_pos : heldout_pos) pos->push_back(user_pos);
      }
      events.clear();
      return;
    }
    for (size_t start = 0; start < train_n; start += o.max_events_per_doc) {
      TokenSeq doc = header;
      const size_t end = std::min(train_n, start + o.max_events_per_doc);
      for (size_t i = start; i < end; ++i)
        Step(doc, tok, codec, events[i], catalog.Find(events[i].song), true, o,
             i > start ? &events[i - 1] : nullptr);
      doc.Id(eot);
      train.Add(doc);
      if (train_pos) train_pos->push_back(user_pos);
    }
    if (tail > 0) {
      // Context: the events just before the tail (no loss); loss on the tail only.
      TokenSeq doc = header;
      const size_t ctx_from =
          train_n > static_cast<size_t>(o.max_events_per_doc) ? train_n - o.max_events_per_doc : 0;
      for (size_t i = ctx_from; i < n; ++i)
        Step(doc, tok, codec, events[i], catalog.Find(events[i].song), i >= train_n, o,
             i > ctx_from ? &events[i - 1] : nullptr);
      doc.Id(eot);
      heldout.Add(doc);
      if (heldout_pos) heldout_pos->push_back(user_pos);
    }
    events.clear();
  };
  store.ForEachEvent([&](const Event& e) {
    if (!events.empty() && events[0].user != e.user) flush();
    events.push_back(e);
  });
  flush();
  p.Finish();
  return {train.Finish(), heldout.Finish()};
}

std::string PartDir(const std::string& out_dir, int rank) {
  return out_dir + "/part" + std::to_string(rank);
}

// Rank 0: the ranks' documents of `stage` (in their part folders, with each document's user
// position) written as one stage in the users' order; every user's documents come from one rank, in
// order.
StageSummary MergeParts(const std::string& out_dir, const std::string& stage, int ranks,
                        int64_t shard_tokens) {
  std::vector<std::unique_ptr<ShardReader>> parts;
  std::vector<std::vector<int64_t>> pos;
  for (int r = 0; r < ranks; ++r) {
    parts.push_back(std::make_unique<ShardReader>(PartDir(out_dir, r), stage));
    pos.push_back(json::parse(ReadFile(PartDir(out_dir, r) + "/" + stage + ".pos.json"))
                      .get<std::vector<int64_t>>());
    if (static_cast<int64_t>(pos.back().size()) != parts.back()->num_docs())
      throw Error("document positions do not match the documents", PartDir(out_dir, r),
                  "build the corpus again");
  }
  ShardWriter w(out_dir, stage, shard_tokens);
  std::vector<int64_t> next(static_cast<size_t>(ranks), 0);
  TokenSeq doc;
  for (;;) {
    int best = -1;  // the part whose next document has the smallest user position
    for (int r = 0; r < ranks; ++r) {
      const size_t ru = static_cast<size_t>(r);
      if (next[ru] < parts[ru]->num_docs() &&
          (best < 0 || pos[ru][static_cast<size_t>(next[ru])] <
                           pos[static_cast<size_t>(best)]
                              [static_cast<size_t>(next[static_cast<size_t>(best)])]))
        best = r;
    }
    if (best < 0) break;
    const size_t b = static_cast<size_t>(best);
    const auto ids = parts[b]->Tokens(next[b]);
    const auto mask = parts[b]->Mask(next[b]);
    doc.ids.assign(ids.begin(), ids.end());
    doc.mask.assign(mask.begin(), mask.end());
    w.Add(doc);
    ++next[b];
  }
  return w.Finish();
}

StageSummary SummaryOfStage(const std::string& dir, const std::string& stage) {
  const json index = json::parse(ReadFile(dir + "/" + stage + ".index.json"));
  StageSummary s;
  s.stage = stage;
  s.docs = index.at("docs").get<int64_t>();
  s.tokens = index.at("tokens").get<int64_t>();
  s.loss_tokens = index.at("loss_tokens").get<int64_t>();
  return s;
}

// The data-parallel build: see CorpusOptions.
CorpusSummary BuildCorporaShared(Store& store, const Tokenizer& tok, const ItemCodec& codec,
                                 const Catalog& catalog, const std::string& out_dir,
                                 const CorpusOptions& o) {
  if (!o.barrier) throw std::logic_error("BuildCorpora: ranks > 1 needs a barrier");
  using Builder = std::function<StageSummary()>;
  const std::vector<Builder> single = {
      [&] { return General(store, tok, codec, out_dir, o); },
      [&] { return Objective(store, tok, codec, catalog, out_dir, o); },
      [&] { return Subjective(store, tok, codec, catalog, out_dir, o); }};
  for (size_t i = 0; i < single.size(); ++i)
    if (static_cast<int>(i % static_cast<size_t>(o.ranks)) == o.rank) single[i]();
  const std::string part = PartDir(out_dir, o.rank);
  std::vector<int64_t> train_pos, heldout_pos;
  Behaviour(store, tok, codec, catalog, part, o, &train_pos, &heldout_pos);
  WriteFileAtomic(part + "/stage3_behaviour.pos.json", json(train_pos).dump() + "\n");
  WriteFileAtomic(part + "/stage3_heldout.pos.json", json(heldout_pos).dump() + "\n");
  o.barrier();  // every stage and part is written
  CorpusSummary s;
  if (o.rank != 0) return s;
  WriteItemWords(store, tok, codec, catalog, out_dir);
  for (const char* stage : {"stage0_general", "stage1_objective", "stage2_subjective"})
    s.stages.push_back(SummaryOfStage(out_dir, stage));
  for (const char* stage : {"stage3_behaviour", "stage3_heldout"})
    s.stages.push_back(MergeParts(out_dir, stage, o.ranks, o.shard_tokens));
  for (int r = 0; r < o.ranks; ++r) std::filesystem::remove_all(PartDir(out_dir, r));
  return s;
}

}  // namespace

CorpusSummary BuildCorpora(Store& store, const Tokenizer& tok, const ItemCodec& codec,
                           const Catalog& catalog, const std::string& out_dir,
                           const CorpusOptions& o) {
  if (o.max_events_per_doc < 1) throw Error("--max-events-per-doc must be at least 1");
  if (o.ranks > 1) return BuildCorporaShared(store, tok, codec, catalog, out_dir, o);
  CorpusSummary s;
  WriteItemWords(store, tok, codec, catalog, out_dir);
  s.stages.push_back(General(store, tok, codec, out_dir, o));
  s.stages.push_back(Objective(store, tok, codec, catalog, out_dir, o));
  s.stages.push_back(Subjective(store, tok, codec, catalog, out_dir, o));
  auto [train, heldout] = Behaviour(store, tok, codec, catalog, out_dir, o);
  s.stages.push_back(train);
  s.stages.push_back(heldout);
  return s;
}

}  // namespace muchator
