#include "pipeline/corpus_step.h"

#include <memory>
#include <nlohmann/json.hpp>

#include "core/file.h"
#include "data/store.h"
#include "text/item_codec.h"
#include "text/tokenizer.h"

namespace muchator {

// RunCorpus (pipeline/corpus_step.h). With o.ranks > 1 (a data-parallel job, o.barrier set), rank 0
// makes the codec and the others read it back.
CorpusSummary RunCorpus(const std::string& store_path, const std::string& tokenizer_path,
                        const std::string& codec_name, const std::string& out,
                        const CorpusOptions& o) {
  Store store(store_path);
  const Catalog catalog = Catalog::FromStore(store);
  MakeDirs(out);
  std::unique_ptr<Tokenizer> tok;
  std::unique_ptr<ItemCodec> codec;
  if (o.rank == 0) {
    tok = Tokenizer::Load(tokenizer_path);
    SemanticOptions so;
    so.seed = o.seed;
    codec = MakeItemCodec(codec_name, catalog, *tok, so);
    tok->SaveHf(out + "/tokenizer.json");
    SaveItemCodec(*codec, catalog, out + "/codec.json");
  }
  if (o.ranks > 1) {
    o.barrier();  // the grown tokenizer and the codec exist
    if (o.rank != 0) {
      tok = Tokenizer::Load(out + "/tokenizer.json");
      codec = LoadItemCodec(out + "/codec.json", catalog, *tok);
    }
  }
  CorpusSummary s = BuildCorpora(store, *tok, *codec, catalog, out, o);
  if (o.rank != 0) return s;
  nlohmann::json j = {
      {"codec", codec_name}, {"vocab_size", tok->vocab_size()}, {"stages", s.ToJson()}};
  WriteFileAtomic(out + "/corpus_summary.json", j.dump(1) + "\n");
  return s;
}

}  // namespace muchator
