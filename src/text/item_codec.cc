#include "text/item_codec.h"

#include <faiss/Clustering.h>
#include <faiss/IndexFlat.h>

#include <cmath>
#include <map>

#include "core/error.h"
#include "core/file.h"
#include "core/rng.h"
#include "data/store.h"
#include "text/special_tokens.h"

namespace muchator {

int Catalog::Find(const std::string& song_id) const {
  auto it = index_.find(song_id);
  return it == index_.end() ? -1 : it->second;
}

void Catalog::BuildIndex() {
  index_.clear();
  for (size_t i = 0; i < items.size(); ++i) index_.emplace(items[i].id, static_cast<int>(i));
}

Catalog Catalog::FromStore(Store& store) {
  Catalog c;
  std::unordered_map<std::string, std::string> artist_name;
  store.ForEachArtist([&](const Artist& a) { artist_name[a.id] = a.name; });
  store.ForEachSong([&](const Song& s) {
    CatalogItem item{s.id,
                     s.title,
                     s.artists.empty() ? "" : artist_name[s.artists[0]],
                     {},
                     s.artists.empty() ? "" : s.artists[0]};
    for (const auto& g : s.genres) item.features.push_back("genre:" + g);
    for (const auto& t : s.tags) item.features.push_back("tag:" + t);
    if (!s.language.empty()) item.features.push_back("lang:" + s.language);
    if (s.year) item.features.push_back("decade:" + std::to_string(s.year / 10 * 10));
    if (!s.artists.empty()) item.features.push_back("artist:" + s.artists[0]);
    c.items.push_back(std::move(item));
  });
  c.BuildIndex();
  store.ForEachRelation([&](const Relation& r) {
    if (r.relation != "co_listen" || r.head_type != "song" || r.tail_type != "song") return;
    const int a = c.Find(r.head), b = c.Find(r.tail);
    if (a >= 0 && b >= 0) c.colisten.emplace_back(a, b, r.weight);
  });
  return c;
}

void ItemCodec::Finish() { trie_.Build(sequences_); }

namespace {

std::string Display(const CatalogItem& it) {
  return it.artist.empty() ? it.title : it.title + " - " + it.artist;
}

std::vector<int> Wrap(const Tokenizer& tok, const std::vector<int>& body) {
  std::vector<int> s = {tok.TokenId(tok::kItem)};
  s.insert(s.end(), body.begin(), body.end());
  s.push_back(tok.TokenId(tok::kItemEnd));
  return s;
}

class TitleCodec : public ItemCodec {
 public:
  TitleCodec(const Catalog& c, Tokenizer& tok) {
    // Identical "Title - Artist" texts (two songs of one artist with one title) get " #2", " #3":
    // every item must have its own sequence.
    std::map<std::string, int> seen;
    for (const auto& item : c.items) {
      std::string text = Display(item);
      const int n = ++seen[text];
      if (n > 1) text += " #" + std::to_string(n);
      display_.push_back(text);
      sequences_.push_back(Wrap(tok, tok.Encode(text)));
    }
    Finish();
  }
  std::string name() const override { return "title"; }
};

class AtomicCodec : public ItemCodec {
 public:
  AtomicCodec(const Catalog& c, Tokenizer& tok) {
    for (const auto& item : c.items) {
      display_.push_back(Display(item));
      sequences_.push_back(Wrap(tok, {tok.AddSpecialToken("<|s_" + item.id + "|>")}));
    }
    Finish();
  }
  std::string name() const override { return "atomic"; }
};

// Item embeddings: half from hashed tag/text features (songs sharing genres, tags, language,
// decade, artist are close), half from co-listening (a song's vector mixes in its co-listened
// songs' random vectors). L2-normalised. (N, dim) row-major.
std::vector<float> ItemEmbeddings(const Catalog& c, int dim, uint64_t seed) {
  const int half = dim / 2;
  const size_t n = c.items.size();
  std::vector<float> x(n * dim, 0.0f);
  auto random_vec = [&](Rng r, float* out, int d, float scale) {
    for (int k = 0; k < d; ++k) out[k] += scale * static_cast<float>(r.Normal());
  };
  for (size_t i = 0; i < n; ++i)
    for (const auto& f : c.items[i].features)
      random_vec(Rng(HashString(f, seed)), &x[i * dim], half, 1.0f);
  std::vector<double> wsum(n, 0.0);
  for (auto& [a, b, w] : c.colisten) wsum[a] += w, wsum[b] += w;
  for (size_t i = 0; i < n; ++i)
    random_vec(Rng::Derive(seed, "item", i), &x[i * dim + half], dim - half, 0.5f);
  for (auto& [a, b, w] : c.colisten) {
    random_vec(Rng::Derive(seed, "item", b), &x[a * dim + half], dim - half,
               static_cast<float>(w / wsum[a]));
    random_vec(Rng::Derive(seed, "item", a), &x[b * dim + half], dim - half,
               static_cast<float>(w / wsum[b]));
  }
  for (size_t i = 0; i < n; ++i) {
    double norm = 0;
    for (int k = 0; k < dim; ++k) norm += x[i * dim + k] * x[i * dim + k];
    const float inv = norm > 0 ? static_cast<float>(1.0 / std::sqrt(norm)) : 0.0f;
    for (int k = 0; k < dim; ++k) x[i * dim + k] *= inv;
  }
  return x;
}

class SemanticCodec : public ItemCodec {
 public:
  SemanticCodec(const Catalog& c, Tokenizer& tok, const SemanticOptions& o) {
    const int n = static_cast<int>(c.items.size());
    if (n == 0)
      throw Error("the catalog is empty", "", "ingest songs before building a semantic codec");
    int k = o.codebook > 0 ? o.codebook : static_cast<int>(std::ceil(std::pow(n, 1.0 / o.levels)));
    k = std::max(2, std::min({k, 256, n}));
    std::vector<float> residual = ItemEmbeddings(c, o.dim, o.seed);
    std::vector<std::vector<int>> codes(n);
    for (int level = 0; level < o.levels; ++level) {
      faiss::ClusteringParameters cp;
      cp.niter = 20;
      cp.seed = static_cast<int>(o.seed + level);
      cp.min_points_per_centroid = 1;
      cp.verbose = false;
      faiss::Clustering clus(o.dim, k, cp);
      faiss::IndexFlatL2 index(o.dim);
      clus.train(n, residual.data(), index);
      std::vector<float> dist(n);
      std::vector<faiss::Index::idx_t> assign(n);
      index.search(n, residual.data(), 1, dist.data(), assign.data());
      for (int i = 0; i < n; ++i) {
        const int code = static_cast<int>(assign[i]);
        codes[i].push_back(code);
        for (int d = 0; d < o.dim; ++d) residual[i * o.dim + d] -= clus.centroids[code * o.dim + d];
      }
    }
    // Collision digit: items sharing all level codes are numbered in catalog order.
    std::map<std::vector<int>, int> taken;
    for (int i = 0; i < n; ++i) codes[i].push_back(taken[codes[i]]++);
    for (int i = 0; i < n; ++i) {
      std::vector<int> body;
      for (int level = 0; level < o.levels; ++level)
        body.push_back(tok.AddSpecialToken("<|c" + std::to_string(level) + "_" +
                                           std::to_string(codes[i][level]) + "|>"));
      body.push_back(tok.AddSpecialToken("<|cd_" + std::to_string(codes[i].back()) + "|>"));
      display_.push_back(Display(c.items[i]));
      sequences_.push_back(Wrap(tok, body));
    }
    codes_ = std::move(codes);
    Finish();
  }
  std::string name() const override { return "semantic"; }
  const std::vector<std::vector<int>>& codes() const { return codes_; }

 private:
  std::vector<std::vector<int>> codes_;
};

class LoadedCodec : public ItemCodec {
 public:
  LoadedCodec(std::string name, std::vector<std::vector<int>> sequences,
              std::vector<std::string> display)
      : name_(std::move(name)) {
    sequences_ = std::move(sequences);
    display_ = std::move(display);
    Finish();
  }
  std::string name() const override { return name_; }

 private:
  std::string name_;
};

}  // namespace

void SaveItemCodec(const ItemCodec& codec, const Catalog& catalog, const std::string& path) {
  nlohmann::json j = {{"codec", codec.name()}, {"items", nlohmann::json::array()}};
  for (int i = 0; i < codec.num_items(); ++i)
    j["items"].push_back({{"id", catalog.items[i].id},
                          {"text", codec.DisplayText(i)},
                          {"title", catalog.items[i].title},
                          {"artist", catalog.items[i].artist},
                          {"artist_id", catalog.items[i].artist_id},
                          {"tokens", codec.Encode(i)}});
  WriteFileAtomic(path, j.dump() + "\n");
}

namespace {
nlohmann::json ReadCodecJson(const std::string& path) {
  try {
    auto j = nlohmann::json::parse(ReadFile(path));
    if (!j.contains("items") || !j["items"].is_array())
      throw Error("no 'items' array", path, "rebuild it with `muchator corpus`");
    return j;
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("corrupt codec file: ") + e.what(), path,
                "rebuild it with `muchator corpus`");
  }
}
}  // namespace

Catalog Catalog::FromCodecFile(const std::string& path) {
  const auto j = ReadCodecJson(path);
  Catalog c;
  try {
    for (const auto& it : j["items"]) {
      CatalogItem item;
      item.id = it.at("id").get<std::string>();
      item.title = it.value("title", it.at("text").get<std::string>());
      item.artist = it.value("artist", "");
      item.artist_id = it.value("artist_id", "");
      c.items.push_back(std::move(item));
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("corrupt codec file: ") + e.what(), path,
                "rebuild it with `muchator corpus`");
  }
  c.BuildIndex();
  return c;
}

std::unique_ptr<ItemCodec> LoadItemCodec(const std::string& path, const Catalog& catalog,
                                         const Tokenizer& tok) {
  const nlohmann::json j = ReadCodecJson(path);
  const auto& items = j.at("items");
  if (items.size() != catalog.items.size())
    throw Error("the codec has " + std::to_string(items.size()) + " items but the catalog " +
                    std::to_string(catalog.items.size()),
                path, "rebuild the corpus for this store");
  std::vector<std::vector<int>> seqs;
  std::vector<std::string> display;
  for (size_t i = 0; i < items.size(); ++i) {
    if (items[i].at("id").get<std::string>() != catalog.items[i].id)
      throw Error("item " + std::to_string(i) + " is '" + items[i].at("id").get<std::string>() +
                      "' in the codec but '" + catalog.items[i].id + "' in the catalog",
                  path, "rebuild the corpus for this store");
    seqs.push_back(items[i].at("tokens").get<std::vector<int>>());
    for (int t : seqs.back())
      if (t < 0 || t >= tok.vocab_size())
        throw Error("token " + std::to_string(t) + " is not in the tokenizer", path,
                    "use the tokenizer saved beside it");
    display.push_back(items[i].at("text").get<std::string>());
  }
  return std::make_unique<LoadedCodec>(j.at("codec").get<std::string>(), std::move(seqs),
                                       std::move(display));
}

const std::vector<std::string>& ItemCodecNames() {
  static const std::vector<std::string> v = {"title", "atomic", "semantic"};
  return v;
}

std::unique_ptr<ItemCodec> MakeItemCodec(const std::string& name, const Catalog& catalog,
                                         Tokenizer& tok, const SemanticOptions& semantic) {
  for (const char* t : {tok::kItem, tok::kItemEnd})
    if (tok.TokenId(t) < 0) tok.AddSpecialToken(t);
  if (name == "title") return std::make_unique<TitleCodec>(catalog, tok);
  if (name == "atomic") return std::make_unique<AtomicCodec>(catalog, tok);
  if (name == "semantic") return std::make_unique<SemanticCodec>(catalog, tok, semantic);
  throw Error("unknown item codec '" + name + "'", "", "use title, atomic or semantic");
}

}  // namespace muchator
