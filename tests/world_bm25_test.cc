// World property 3: keyword matching cannot solve the test queries, the oracle can.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "core/file.h"
#include "retrieval/bm25.h"
#include "world/generate.h"
#include "world/oracle.h"

namespace muchator {

using nlohmann::json;
namespace fs = std::filesystem;

TEST(WorldBm25Test, KeywordSearchFailsWhereTheOracleSucceeds) {
  const std::string dir =
      (fs::temp_directory_path() / ("muchator_bm25_" + std::to_string(::getpid()))).string();
  world::WorldConfig c = world::WorldConfig::ForSize("tiny");
  c.seed = 3;
  world::Generate(c, dir);
  const world::Oracle oracle = world::Oracle::Load(dir);

  // One BM25 document per song: its metadata, lyrics and every description document about it.
  std::map<std::string, std::string> text;
  std::string line;
  {
    LineReader r(dir + "/songs.jsonl");
    while (r.Next(line)) {
      const json s = json::parse(line);
      std::string t =
          s["title"].get<std::string>() + " " + s.value("album", "") + " " + s.value("lyrics", "");
      for (auto& g : s["genres"]) t += " " + g.get<std::string>();
      for (auto& g : s["tags"]) t += " " + g.get<std::string>();
      text[s["id"]] = t;
    }
  }
  {
    LineReader r(dir + "/documents.jsonl");
    while (r.Next(line)) {
      const json d = json::parse(line);
      if (d.contains("song")) text[d["song"]] += " " + d["text"].get<std::string>();
    }
  }
  Bm25Index index;
  for (const auto& [id, t] : text) index.Add(id, t);

  double bm25_hits = 0, oracle_hits = 0, slots = 0;
  int queries = 0;
  LineReader r(dir + "/oracle/queries.jsonl");
  while (r.Next(line)) {
    const json q = json::parse(line);
    if (q["split"] != "test") continue;
    ++queries;
    const world::QueryFacets f = oracle.FacetsOf(q["id"]);
    for (const auto& [song, score] : index.Search(q["text"], 10))
      bm25_hits += oracle.Relevant(f, song);
    for (const auto& b : q["best10"]) oracle_hits += oracle.Relevant(f, b["song"]);
    slots += 10;
  }
  fs::remove_all(dir);
  ASSERT_GT(queries, 30);
  const double bm25_rel = bm25_hits / slots, oracle_rel = oracle_hits / slots;
  std::printf("test queries: %d, oracle relevance@10: BM25 %.3f, oracle best 10 %.3f\n", queries,
              bm25_rel, oracle_rel);
  EXPECT_LE(bm25_rel, 0.5);
  EXPECT_DOUBLE_EQ(oracle_rel, 1.0);
}

}  // namespace muchator
