#include "synth/sft.h"

#include <filesystem>

#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "core/rng.h"
#include "corpus/shard.h"
#include "data/store.h"
#include "reward/requests.h"
#include "text/chat.h"
#include "world/oracle.h"

namespace muchator {

int64_t BuildSftCorpus(Store& store, const Checkpoint& ck, const std::string& ckpt_dir,
                       const std::string& triplets, const std::string& corpus_dir,
                       const SftOptions& o) {
  if (!ck.codec)
    throw Error("SFT needs the item codec (codec.json) of the checkpoint", ckpt_dir,
                "use a pre-trained checkpoint of the pipeline");
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
      throw Error(std::string("not JSON: ") + e.what(), triplets + ":" + std::to_string(line_no),
                  "use synth-uq2i's triplets.jsonl");
    }
    // FNV-1a (HashString): the held-out users are the same with every compiler and library.
    if (HashString(t.at("user").get<std::string>()) % 100 <
        static_cast<uint64_t>(o.heldout_users_percent)) {
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
    UserContext ctx =
        UserContextFromStore(store, ck.catalog, t.at("user"), t.at("ts").get<int64_t>(), o.history);
    const auto& st = t.at("state");
    ctx.state.time_of_day = st.value("time_of_day", "");
    ctx.state.day_type = st.value("day_type", "");
    ctx.state.context = st.value("context", "");
    ctx.state.device = st.value("device", "");
    ctx.state.hour = st.value("hour", -1);
    const std::string query = t.at("query").get<std::string>();
    const PromptExtras extras =
        o.extras ? o.extras({t.at("user"), t.at("ts").get<int64_t>(), ctx.state, query, ""})
                 : PromptExtras{};
    TokenSeq doc = RenderPrompt(*ck.tok, *ck.codec, ctx, query, o.history, nullptr, &extras);
    doc.Append(RenderAnswer(*ck.tok, *ck.codec, items, t.value("sentence", std::string())));
    w.Add(doc);
    ++n;
  }
  w.Finish();
  heldout.Commit();
  if (skipped)
    spdlog::warn("{} triplets without a catalog item of this checkpoint were skipped", skipped);
  if (n == 0) throw Error("no SFT examples", triplets, "run synth-uq2i first");
  return n;
}

}  // namespace muchator
