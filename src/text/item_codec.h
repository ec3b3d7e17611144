// Item codecs: how a catalog song is written as tokens. One interface, chosen by name:
//   title    - the song as its "Title - Artist" text (the paper's form)
//   atomic   - one new token per song
//   semantic - semantic IDs: residual k-means codes (faiss) over item embeddings built from
//              co-listening and tag/text features, a few levels plus a collision digit
// Every item's sequence is wrapped as <|item|> body <|/item|>, so sequences are prefix-free and
// an answer's items can be found without ambiguity. Codecs that need new tokens add them to the
// tokenizer when built (the model's embeddings grow to match).
#pragma once

#include <memory>
#include <span>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "text/item_trie.h"
#include "text/tokenizer.h"

namespace muchator {

class Store;

// A catalog song as the codecs see it. Index = position in the catalog (store idx order).
struct CatalogItem {
  std::string id, title, artist;      // artist: main artist's name ("" if none)
  std::vector<std::string> features;  // genres, tags, language, decade (semantic codec)
  std::string artist_id;              // main artist's id ("" if none): the one-song-per-artist cap
};

struct Catalog {
  std::vector<CatalogItem> items;
  // Co-listening pairs (item indexes) with weights, from the store's co_listen relations.
  std::vector<std::tuple<int, int, double>> colisten;
  int Find(const std::string& song_id) const;  // -1 if absent
  void BuildIndex();                           // after filling items
  static Catalog FromStore(Store& store);
  // The catalog saved in a codec.json (ids, titles, artists; no features or co-listening): a
  // checkpoint directory is usable without the store it was built from.
  static Catalog FromCodecFile(const std::string& path);

 private:
  std::unordered_map<std::string, int> index_;
};

struct SemanticOptions {
  int levels = 3;    // residual k-means levels
  int codebook = 0;  // codes per level; 0 = ceil(items^(1/levels)), at most 256
  int dim = 64;      // embedding dimension
  uint64_t seed = 1;
};

class ItemCodec {
 public:
  virtual ~ItemCodec() = default;
  virtual std::string name() const = 0;
  // Item i's tokens, <|item|> ... <|/item|> included.
  const std::vector<int>& Encode(int item) const { return sequences_[item]; }
  // The item whose full sequence is `ids`, or -1 ("not an item").
  int Decode(std::span<const int> ids) const { return trie_.Find(ids); }
  const ItemTrie& trie() const { return trie_; }
  int num_items() const { return static_cast<int>(sequences_.size()); }
  // "Title - Artist" of an item, for display whatever the codec.
  const std::string& DisplayText(int item) const { return display_[item]; }

 protected:
  void Finish();  // builds the trie from sequences_
  std::vector<std::vector<int>> sequences_;
  std::vector<std::string> display_;
  ItemTrie trie_;
};

// Saves every item's song id and token sequence, so later stages use exactly these codes
// (semantic codes come from k-means and are not recomputed). Atomic write.
void SaveItemCodec(const ItemCodec& codec, const Catalog& catalog, const std::string& path);
// Loads a saved codec; throws Error if the catalog differs (other songs, other order) or the
// tokenizer lacks the codec's tokens.
std::unique_ptr<ItemCodec> LoadItemCodec(const std::string& path, const Catalog& catalog,
                                         const Tokenizer& tok);

// Builds a codec by name ("title", "atomic", "semantic"); may add tokens to `tok`.
// Throws Error for an unknown name.
std::unique_ptr<ItemCodec> MakeItemCodec(const std::string& name, const Catalog& catalog,
                                         Tokenizer& tok, const SemanticOptions& semantic = {});
const std::vector<std::string>& ItemCodecNames();

}  // namespace muchator
