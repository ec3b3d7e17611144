#include "pipeline/samples_step.h"

#include <cstdio>
#include <nlohmann/json.hpp>
#include <vector>

#include "core/file.h"
#include "data/store.h"
#include "infer/checkpoint.h"
#include "infer/engine.h"
#include "text/chat.h"

namespace muchator {

void SampleAnswers(const std::string& store_path, const std::string& ckpt_dir,
                   const std::string& out) {
  Checkpoint ck = LoadCheckpoint(ckpt_dir);
  if (!ck.grammar) return;
  Store store(store_path);
  std::vector<Query> queries;
  store.ForEachQuery(
      [&](const Query& q) {
        if (queries.size() < 3) queries.push_back(q);
      },
      "test");
  if (queries.empty()) return;
  Engine engine(ck.model, *ck.tok, ck.grammar.get(), {static_cast<int>(queries.size()), 0});
  std::vector<GenerationRequest> reqs;
  for (const auto& q : queries) {
    UserContext ctx =
        q.user.empty() ? UserContext{} : UserContextFromStore(store, ck.catalog, q.user, q.ts);
    ctx.state = q.state;
    GenerationRequest r;
    r.prompt = RenderPrompt(*ck.tok, *ck.codec, ctx, q.text).ids;
    r.constraint = ConstraintOptions{};  // an opening sentence, then the list (docs/uq2i.md)
    reqs.push_back(std::move(r));
  }
  const auto results = engine.Generate(std::move(reqs));
  nlohmann::json j = nlohmann::json::array();
  for (size_t i = 0; i < results.size(); ++i) {
    std::printf("sample answer to \"%s\" (user %s, %s):\n", queries[i].text.c_str(),
                queries[i].user.empty() ? "-" : queries[i].user.c_str(),
                StateText(queries[i].state).c_str());
    nlohmann::json items = nlohmann::json::array();
    for (size_t k = 0; k < results[i].items.size(); ++k) {
      const int item = results[i].items[k];
      if (k < 5) std::printf("  %zu. %s\n", k + 1, ck.codec->DisplayText(item).c_str());
      items.push_back(ck.catalog.items[item].id);
    }
    j.push_back({{"query", queries[i].id},
                 {"text", queries[i].text},
                 {"user", queries[i].user},
                 {"items", items},
                 {"total_ms", results[i].total_s * 1e3}});
  }
  WriteFileAtomic(out, j.dump(2) + "\n");
}

}  // namespace muchator
