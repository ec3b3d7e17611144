// End-to-end test of the main job (`muchator pipeline`) through every step.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "cli_support.h"
#include "core/file.h"
#include "data/sqlite.h"
#include "data/store.h"

namespace muchator {

// The main job end to end (README command 1, at tiny size). Its run is the fixture the tests
// below and in cli_e2e_test.cc and cli_training_test.cc start from (TinyRun()).
TEST_F(CliTest, TinyMainJobRunsEveryStep) {
  const Result r = BuildTinyRun();
  ASSERT_EQ(r.code, 0) << r.output;
  const std::string run = MUCHATOR_TINY_RUN_DIR;
  const auto P = [&](const std::string& rel) { return run + "/" + rel.substr(4); };  // "run/..."
  EXPECT_NE(r.output.find("| stage3_behaviour |"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("pretrain stage3_behaviour: train loss"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("ranker: held-out like-vs-skip AUC"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("judge (prf): held-out accuracy"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("uq2i: "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("sft, constrained answers: oracle relevance@10"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("grpo: 4 steps, reward"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("held-out RL requests"), std::string::npos) << r.output;
  EXPECT_NE(ReadFile(P("run/pipeline.config.toml")).find("bf16 = false"), std::string::npos);
  // The run report: one self-contained page (no script, no external asset) and its Markdown.
  const std::string page = ReadFile(P("run/report/index.html"));
  for (const char* part : {"<h2>Held-out requests: baselines and checkpoints</h2>", "bm25_rerank",
                           "Pre-training loss per stage", "<polyline", "GRPO: the hybrid reward",
                           "pipeline.config.toml", "ranking model"})
    EXPECT_NE(page.find(part), std::string::npos) << part;
  for (const char* external : {"<script", "src=", "href=", "@import", "url("})
    EXPECT_EQ(page.find(external), std::string::npos) << external;
  EXPECT_NE(ReadFile(P("run/report/run_report.md")).find("| bm25_rerank | list |"),
            std::string::npos);
  EXPECT_NE(r.output.find("run report (tables, curves, configuration)"), std::string::npos);
  for (auto f : {"pipeline.config.toml",
                 "store.sqlite",
                 "world/oracle/world.json",
                 "tokenizer/tokenizer.json",
                 "corpus/tokenizer.json",
                 "corpus/codec.json",
                 "corpus/corpus_summary.json",
                 "corpus/stage3_heldout.index.json",
                 "pretrain/stage3_behaviour/final/model.safetensors",
                 "pretrain/stage3_behaviour/final/tokenizer.json",
                 "pretrain/pretrain_summary.json",
                 "ranker/ranker.json",
                 "ranker/ranker.safetensors",
                 "ranker/ranker_report.json",
                 "judge/judge.json",
                 "judge/judge_songs.safetensors",
                 "judge/lm/final/model.safetensors",
                 "uq2i/triplets.jsonl",
                 "uq2i/synth_summary.json",
                 "sft/sft/final/model.safetensors",
                 "sft/sft/final/codec.json",
                 "sft/sft_report.json",
                 "grpo/grpo/log.jsonl",
                 "grpo/grpo/final/model.safetensors",
                 "grpo/grpo/final/codec.json",
                 "grpo/grpo_report.json"})
    EXPECT_TRUE(fs::exists(P("run/") + f)) << f;
  // SFT replays the everyday-language stage: its shards sit beside the triplets' with the same
  // documents as the pre-training corpus's.
  ASSERT_TRUE(fs::exists(P("run/sft/corpus/stage0_general.index.json")));
  EXPECT_EQ(nlohmann::json::parse(ReadFile(P("run/sft/corpus/stage0_general.index.json")))["docs"],
            nlohmann::json::parse(ReadFile(P("run/corpus/stage0_general.index.json")))["docs"]);
}

// Every command on a finished run (a copy of the tiny run): the training steps again as two
// data-parallel ranks, GRPO soups, UQ2I and corpus building, the knowledge benchmarks, every
// ablation table, the report again, and `generate`.
TEST_F(CliTest, EveryCommandOnAFinishedRun) {
  fs::copy(TinyRun(), P("run"), fs::copy_options::recursive);
  // SFT as two data-parallel ranks from the run's checkpoint and triplets: rank 0 writes the
  // corpus, both train with bit-identical weights, rank 0 reports.
  Result ds = LaunchTwoRanks(29651, "sft --triplets " + P("run/uq2i/triplets.jsonl") + " --store " +
                                        P("run/store.sqlite") + " --init " +
                                        P("run/pretrain/stage3_behaviour/final") +
                                        " --steps 2 --batch-size 2 --out " + P("sft2"));
  ASSERT_EQ(ds.code, 0) << ds.output;
  EXPECT_EQ(Lines(P("sft2/sft/digest.rank0.txt")).size(), 2u);
  EXPECT_EQ(Lines(P("sft2/sft/digest.rank0.txt")), Lines(P("sft2/sft/digest.rank1.txt")));
  EXPECT_TRUE(fs::exists(P("sft2/sft/final/model.safetensors")));
  EXPECT_TRUE(fs::exists(P("sft2/sft_report.json")));
  EXPECT_NE(ds.output.find("sft: "), std::string::npos) << ds.output;
  // The relevance judge the same way.
  Result dj = LaunchTwoRanks(29652, "train-judge --store " + P("run/store.sqlite") + " --world " +
                                        P("run/world") + " --init " +
                                        P("run/pretrain/stage3_behaviour/final") +
                                        " --steps 2 --batch-size 4 --out " + P("judge2"));
  ASSERT_EQ(dj.code, 0) << dj.output;
  EXPECT_EQ(Lines(P("judge2/lm/digest.rank0.txt")).size(), 2u);
  EXPECT_EQ(Lines(P("judge2/lm/digest.rank0.txt")), Lines(P("judge2/lm/digest.rank1.txt")));
  EXPECT_TRUE(fs::exists(P("judge2/judge.json")));
  EXPECT_NE(dj.output.find("judge (yesno): "), std::string::npos) << dj.output;
  // The ranking model: two ranks end with identical weights and the loss one process reaches.
  Result dr = LaunchTwoRanks(
      29653, "train-ranker --store " + P("run/store.sqlite") + " --epochs 1 --out " + P("ranker2"));
  ASSERT_EQ(dr.code, 0) << dr.output;
  EXPECT_EQ(ReadFile(P("ranker2/digest.rank0.txt")), ReadFile(P("ranker2/digest.rank1.txt")));
  Result r1 = RunBinary("-q train-ranker --store " + P("run/store.sqlite") + " --epochs 1 --out " +
                        P("ranker1"));
  ASSERT_EQ(r1.code, 0) << r1.output;
  const auto e2 =
      nlohmann::json::parse(ReadFile(P("ranker2/ranker_report.json")))["epochs"][0]["train_loss"];
  const auto e1 =
      nlohmann::json::parse(ReadFile(P("ranker1/ranker_report.json")))["epochs"][0]["train_loss"];
  EXPECT_NEAR(e2.get<double>(), e1.get<double>(), 1e-4 * e1.get<double>());
  // GRPO on two ranks (each samples and scores its own requests' groups): bit-identical weights
  // after every step, and the losses and rewards one process logs on all requests.
  const std::string grpo = "grpo --init " + P("run/sft/sft/final") + " --store " +
                           P("run/store.sqlite") + " --judge " + P("run/judge") + " --ranker " +
                           P("run/ranker") + " --steps 2 --group-size 4 --eval-requests 0 --out ";
  Result dg = LaunchTwoRanks(29654, grpo + P("grpo2") + " --prompts-per-step 4 --runs 1");
  ASSERT_EQ(dg.code, 0) << dg.output;
  EXPECT_EQ(Lines(P("grpo2/grpo/digest.rank0.txt")).size(), 2u);
  EXPECT_EQ(Lines(P("grpo2/grpo/digest.rank0.txt")), Lines(P("grpo2/grpo/digest.rank1.txt")));
  EXPECT_TRUE(fs::exists(P("grpo2/grpo/final/model.safetensors")));
  Result g1 = RunBinary("-q " + grpo + P("grpo1") + " --prompts-per-step 4 --threads 1 --runs 1");
  ASSERT_EQ(g1.code, 0) << g1.output;
  const auto log1 = Lines(P("grpo1/grpo/log.jsonl")), log2 = Lines(P("grpo2/grpo/log.jsonl"));
  ASSERT_EQ(log1.size(), 2u);
  ASSERT_EQ(log2.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const auto a = nlohmann::json::parse(log1[i]), b = nlohmann::json::parse(log2[i]);
    EXPECT_EQ(b["ranks"], 2);
    for (const char* k : {"reward_mean", "reward_std", "answer_tokens", "answers_trained"})
      EXPECT_NEAR(a[k].get<double>(), b[k].get<double>(), 1e-9) << k;  // the same rollouts
    EXPECT_NEAR(a["loss"].get<double>(), b["loss"].get<double>(), 1e-6);
  }
  // A soup of two GRPO runs (seeds 1 and 11) merged halfway back to the start, the runs side by
  // side as child processes with one thread each: run 0 is the one-run training with the same
  // flags, run 1 another, and the merge is neither, and the same as the runs one after the other
  // in one process; a resumed soup trains nothing again. (The ranking model's reward, so that
  // constrained rollouts differ.)
  const std::string moving = " --prompts-per-step 4 --constrained --rewards pers=1";
  Result one = RunBinary("-q " + grpo + P("one") + moving + " --threads 1 --runs 1");
  ASSERT_EQ(one.code, 0) << one.output;
  Result soup = RunBinary(grpo + P("soup") + moving + " --threads 2 --runs 2 --merge 0.5");
  ASSERT_EQ(soup.code, 0) << soup.output;
  EXPECT_NE(soup.output.find("2 at a time as child processes with 1 thread(s) each"),
            std::string::npos)
      << soup.output;
  EXPECT_NE(ReadFile(P("soup/runs/1/grpo.log")).find("grpo step 2/2"), std::string::npos);
  Result serial =
      RunBinary("-q " + grpo + P("serial") + moving + " --threads 1 --runs 2 --merge 0.5");
  ASSERT_EQ(serial.code, 0) << serial.output;
  EXPECT_FALSE(fs::exists(P("serial/runs/0/grpo.log")));  // trained in the one process
  EXPECT_EQ(ReadFile(P("serial/grpo/final/model.safetensors")),
            ReadFile(P("soup/grpo/final/model.safetensors")));
  const auto reward_means = [&](const std::string& path) {
    std::vector<double> r;
    for (const auto& line : Lines(path))
      r.push_back(nlohmann::json::parse(line)["reward_mean"].get<double>());
    return r;
  };
  const auto one_run = reward_means(P("one/grpo/log.jsonl"));
  ASSERT_EQ(one_run.size(), 2u);
  EXPECT_EQ(reward_means(P("soup/runs/0/grpo/log.jsonl")), one_run);
  EXPECT_EQ(reward_means(P("soup/grpo/log.jsonl")), one_run);  // the report's curve: run 0's
  EXPECT_NE(reward_means(P("soup/runs/1/grpo/log.jsonl")), one_run);
  const std::string merged = ReadFile(P("soup/grpo/final/model.safetensors"));
  EXPECT_EQ(ReadFile(P("soup/runs/0/grpo/final/model.safetensors")),
            ReadFile(P("one/grpo/final/model.safetensors")));
  for (const std::string& other :
       {P("soup/runs/0/grpo/final/model.safetensors"),
        P("soup/runs/1/grpo/final/model.safetensors"), P("run/sft/sft/final/model.safetensors")})
    EXPECT_NE(merged, ReadFile(other)) << other;
  EXPECT_TRUE(fs::exists(P("soup/grpo/final/codec.json")));
  const auto soup_report = nlohmann::json::parse(ReadFile(P("soup/grpo_report.json")));
  EXPECT_EQ(soup_report["training"]["runs"].size(), 2u);
  EXPECT_EQ(soup_report["training"]["runs"][1]["seed"], 11);
  Result again =
      RunBinary(grpo + P("soup") + moving + " --threads 2 --runs 2 --merge 0.5 --resume");
  ASSERT_EQ(again.code, 0) << again.output;
  EXPECT_NE(again.output.find("run 2 of 2 already done"), std::string::npos) << again.output;
  EXPECT_EQ(ReadFile(P("soup/grpo/final/model.safetensors")), merged);
  Result odd = LaunchTwoRanks(29655, grpo + P("grpo3") + " --prompts-per-step 3 --runs 1");
  EXPECT_NE(odd.code, 0);
  EXPECT_NE(odd.output.find("--prompts-per-step 3 does not divide among 2 ranks"),
            std::string::npos)
      << odd.output;
  // UQ2I synthesis sharded by user over two ranks, merged by rank 0: the files one process
  // writes, byte for byte (one thread each, so rank 0's embedding equals the single process's).
  const std::string synth = "synth-uq2i --store " + P("run/store.sqlite") + " --model " +
                            P("run/pretrain/stage3_behaviour/final") + " --ranker " +
                            P("run/ranker") + " --world " + P("run/world") + " --out ";
  Result ds2 = LaunchTwoRanks(29656, synth + P("synth2"));
  ASSERT_EQ(ds2.code, 0) << ds2.output;
  Result ds1 = RunBinary("-q " + synth + P("synth1") + " --threads 1");
  ASSERT_EQ(ds1.code, 0) << ds1.output;
  for (auto f : {"triplets.jsonl", "pool.jsonl"}) {
    EXPECT_GT(ReadFile(P("synth1/") + f).size(), 1000u) << f;
    EXPECT_EQ(ReadFile(P("synth1/") + f), ReadFile(P("synth2/") + f)) << f;
  }
  const auto sum1 = nlohmann::json::parse(ReadFile(P("synth1/synth_summary.json")));
  const auto sum2 = nlohmann::json::parse(ReadFile(P("synth2/synth_summary.json")));
  for (const char* k : {"triplets", "users", "excluded_users", "anchors_without_query", "oracle"})
    EXPECT_EQ(sum1[k], sum2[k]) << k;
  EXPECT_EQ(sum2["ranks"], 2);
  EXPECT_FALSE(fs::exists(P("synth2/triplets.part1.jsonl")));  // the parts are merged away
  // Corpus building the same way: stages spread over the ranks, behaviour sharded by user and
  // merged in the users' order; every file equals one process's.
  const std::string corpus = "corpus --store " + P("run/store.sqlite") + " --tokenizer " +
                             P("run/tokenizer") + " --shard-tokens 20000 --out ";
  Result dc2 = LaunchTwoRanks(29657, corpus + P("corpus2"));
  ASSERT_EQ(dc2.code, 0) << dc2.output;
  Result dc1 = RunBinary("-q " + corpus + P("corpus1"));
  ASSERT_EQ(dc1.code, 0) << dc1.output;
  size_t compared = 0;
  for (const auto& e : fs::directory_iterator(P("corpus1"))) {
    const std::string name = e.path().filename().string();
    if (name == "corpus.config.toml") continue;  // names its own --out
    EXPECT_EQ(ReadFile(e.path().string()), ReadFile(P("corpus2/") + name)) << name;
    ++compared;
  }
  EXPECT_GT(compared, 20u);  // several shards per stage
  EXPECT_EQ(std::distance(fs::directory_iterator(P("corpus1")), fs::directory_iterator()),
            std::distance(fs::directory_iterator(P("corpus2")), fs::directory_iterator()));
  // GRPO's default rewards need the judge: said before any work, naming the option.
  Result nj = RunBinary("grpo --init " + P("run/sft/sft/final") + " --store " +
                        P("run/store.sqlite") + " --out " + P("g"));
  EXPECT_EQ(nj.code, 1) << nj.output;
  EXPECT_NE(nj.output.find("--rewards: reward 'rel' needs the relevance judge"), std::string::npos)
      << nj.output;
  Result c = RunBinary("-q corpus --store " + P("run/store.sqlite") + " --tokenizer " +
                       P("run/tokenizer") + " --codec atomic --drop-feedback --out " + P("c2"));
  ASSERT_EQ(c.code, 0) << c.output;
  EXPECT_NE(ReadFile(P("c2/corpus.config.toml")).find("drop-feedback = true"), std::string::npos);
  EXPECT_NE(ReadFile(P("c2/codec.json")).find("\"codec\":\"atomic\""), std::string::npos);

  // The knowledge benchmarks of every checkpoint of the run (Table 5).
  Result kb = RunBinary("-q benchmark --run " + P("run") + " --per-kind 5");
  ASSERT_EQ(kb.code, 0) << kb.output;
  const auto knowledge = nlohmann::json::parse(ReadFile(P("run/benchmarks/knowledge.json")));
  std::vector<std::string> names;
  for (const auto& row : knowledge["rows"]) {
    names.push_back(row["checkpoint"]);
    for (const char* k : {"artist", "genre", "q2i", "general"})
      EXPECT_EQ(row["accuracy"][k]["n"], 5) << row.dump();
  }
  EXPECT_EQ(names, (std::vector<std::string>{"pretrain:stage0_general", "pretrain:stage1_objective",
                                             "pretrain:stage2_subjective",
                                             "pretrain:stage3_behaviour", "sft", "grpo"}));
  EXPECT_TRUE(fs::exists(P("run/benchmarks/benchmark.config.toml")));
  // U2I perplexity beside the benchmarks: every checkpoint of the run shares the corpus's
  // tokenizer; behaviour pre-training must lower it against the stage before.
  std::map<std::string, double> u2i;
  for (const auto& row : knowledge["rows"]) {
    ASSERT_TRUE(row.contains("u2i")) << row.dump();
    EXPECT_GT(row["u2i"]["item_tokens"].get<int64_t>(), 100) << row.dump();
    u2i[row["checkpoint"]] = row["u2i"]["perplexity"].get<double>();
  }
  EXPECT_LT(u2i["pretrain:stage3_behaviour"], u2i["pretrain:stage0_general"]);
  EXPECT_NE(ReadFile(P("run/benchmarks/knowledge.md")).find("U2I perplexity"), std::string::npos);
  // Table 6 (user context -> U2I perplexity): five variants trained from the stage-2 checkpoint,
  // each scoring the same held-out item tokens.
  Result ab = RunBinary("-q ablate --run " + P("run") + " --table 6 --steps 2");
  ASSERT_EQ(ab.code, 0) << ab.output;
  const auto t6 = nlohmann::json::parse(ReadFile(P("run/ablate/table6.json")));
  ASSERT_EQ(t6["rows"].size(), 5u);
  std::vector<std::string> variants;
  for (const auto& row : t6["rows"]) {
    variants.push_back(row["variant"]);
    EXPECT_EQ(row["u2i"]["item_tokens"], t6["rows"][0]["u2i"]["item_tokens"]) << row.dump();
    EXPECT_GT(row["u2i"]["perplexity"].get<double>(), 1.0);
    EXPECT_TRUE(
        fs::exists(row["dir"].get<std::string>() + "/stage3_behaviour/final/model.safetensors"));
  }
  EXPECT_EQ(variants,
            (std::vector<std::string>{"none", "+profile", "+item", "+state", "+feedback"}));
  EXPECT_NE(ab.output.find("| +feedback |"), std::string::npos) << ab.output;
  EXPECT_TRUE(fs::exists(P("run/ablate/ablate.table6.config.toml")));
  // Table 3: every system on the same requests; SFT-only and RAG trained (2 steps), the run's
  // checkpoints reused; few-shot examples and RAG candidates lengthen the prompts.
  Result t3r = RunBinary("-q ablate --run " + P("run") + " --table 3 --sft-steps 2 --requests 6");
  ASSERT_EQ(t3r.code, 0) << t3r.output;
  const auto t3 = nlohmann::json::parse(ReadFile(P("run/ablate/table3.json")));
  std::map<std::string, nlohmann::json> t3rows;
  std::vector<std::string> systems;
  for (const auto& row : t3["report"]["rows"]) {
    EXPECT_EQ(row["mode"] == "list", row["system"].get<std::string>().find("bm25") == 0 ||
                                         row["system"].get<std::string>().find("dense") == 0 ||
                                         row["system"] == "popularity")
        << row.dump();
    if (row["mode"] != "unconstrained") systems.push_back(row["system"]);
    t3rows[row["system"].get<std::string>() + "/" + row["mode"].get<std::string>()] = row;
  }
  EXPECT_EQ(systems, (std::vector<std::string>{"popularity", "bm25", "dense", "bm25_rerank",
                                               "dense_rerank", "zero_shot", "few_shot", "sft_only",
                                               "rag", "rag_rerank", "pt_sft", "full"}));
  EXPECT_EQ(t3["report"]["requests"], 6);
  auto prompt = [&](const std::string& system) {
    return t3rows.at(system + "/constrained")["prompt_tokens"].get<double>();
  };
  EXPECT_GT(prompt("few_shot"), prompt("zero_shot") + 3 * 10);  // three example turns
  EXPECT_GT(prompt("rag"), prompt("pt_sft") + 20 * 3);          // 20 candidates of >= 3 tokens
  EXPECT_EQ(prompt("sft_only"), prompt("pt_sft"));
  EXPECT_FALSE(t3rows.count("rag_rerank/unconstrained"));
  EXPECT_EQ(prompt("rag_rerank"), prompt("rag"));
  for (const char* slug : {"sft_only", "rag"}) {
    EXPECT_TRUE(fs::exists(P("run/ablate/table3/") + slug + "/sft/final/model.safetensors"));
    EXPECT_NE(ReadFile(P("run/ablate/table3/") + slug + "/ablate.stamp").find("steps=2"),
              std::string::npos);
  }
  // The stamp names the run's SFT step key, so a redone run retrains its variants.
  EXPECT_NE(ReadFile(P("run/ablate/table3/sft_only/ablate.stamp")).find("\nrun="),
            std::string::npos);
  EXPECT_NE(ReadFile(P("run/ablate/table3/sft_only/ablate.stamp")).find("stage0_general"),
            std::string::npos);
  EXPECT_NE(t3r.output.find("| rag | constrained |"), std::string::npos) << t3r.output;
  // Table 4 reuses Table 3's SFT-only model (same settings): not retrained.
  const auto sft_only_time =
      fs::last_write_time(P("run/ablate/table3/sft_only/sft/final/model.safetensors"));
  Result t4r = RunBinary("-q ablate --run " + P("run") + " --table 4 --sft-steps 2 --requests 6");
  ASSERT_EQ(t4r.code, 0) << t4r.output;
  EXPECT_EQ(fs::last_write_time(P("run/ablate/table3/sft_only/sft/final/model.safetensors")),
            sft_only_time);
  std::vector<std::string> t4systems;
  const auto t4 = nlohmann::json::parse(ReadFile(P("run/ablate/table4.json")));
  for (const auto& row : t4["report"]["rows"])
    if (row["mode"] == "constrained") t4systems.push_back(row["system"]);
  EXPECT_EQ(t4systems, (std::vector<std::string>{"sft_only", "pt_sft", "full"}));
  // Table 7: the paper's hybrid reward and its three ablations, each trained with its rewards
  // (each logs only its own reward terms; ablate's seed is the run's, 2, unless given). The run's
  // own GRPO model does not stand in for the full reward: the main job's reward is the served one.
  Result t7r = RunBinary("-q ablate --run " + P("run") + " --table 7 --grpo-steps 2 --requests 6");
  ASSERT_EQ(t7r.code, 0) << t7r.output;
  EXPECT_NE(ReadFile(P("run/ablate/ablate.table7.config.toml")).find("seed = 2"),
            std::string::npos);
  const auto t7 = nlohmann::json::parse(ReadFile(P("run/ablate/table7.json")));
  ASSERT_EQ(t7["variants"].size(), 4u);
  for (size_t v = 0; v < 4; ++v) {
    const auto& var = t7["variants"][v];
    EXPECT_EQ(var["training"]["steps"], 2) << var.dump();
    const std::string log = ReadFile(var["checkpoint"].get<std::string>() + "/../log.jsonl");
    const std::string rewards = var["rewards"];
    for (const char* name : {"rel_pers", "format"})
      EXPECT_EQ(log.find("\"" + std::string(name) + "\"") != std::string::npos,
                rewards.find(std::string(name) + "=") != std::string::npos)
          << name << " in " << var.dump();
  }
  std::vector<std::string> t7systems;
  for (const auto& row : t7["report"]["rows"])
    if (row["mode"] == "constrained") t7systems.push_back(row["system"]);
  EXPECT_EQ(t7systems,
            (std::vector<std::string>{"sft (before RL)", "full hybrid reward", "w/o relevance",
                                      "w/o personalisation", "w/o rules"}));
  // Each left-out part against the full reward, paired over the same requests: both metrics in
  // each decoding mode, every interval around its mean.
  std::set<std::string> t7treated;
  for (const auto& p : t7["paired"]) {
    EXPECT_EQ(p["base"], "full hybrid reward");
    t7treated.insert(p["treated"].get<std::string>());
    EXPECT_LE(p["low"].get<double>(), p["mean"].get<double>());
    EXPECT_GE(p["high"].get<double>(), p["mean"].get<double>());
  }
  EXPECT_EQ(t7treated,
            (std::set<std::string>{"w/o relevance", "w/o personalisation", "w/o rules"}));
  size_t t7modes = 0;  // the decoding modes the variants were evaluated in
  for (const auto& row : t7["report"]["rows"]) t7modes += row["system"] == "full hybrid reward";
  EXPECT_EQ(t7["paired"].size(), 3u * 2 * t7modes);  // three variants, two metrics, each mode
  EXPECT_NE(ReadFile(P("run/ablate/table7.md")).find("Each against the full hybrid reward"),
            std::string::npos);
  // The item codecs side by side: the run's codec is the run's SFT model; the other two are
  // pre-trained (stages 1-3 from the run's stage 0) and tuned with their own item tokens.
  Result cr = RunBinary("-q ablate --run " + P("run") +
                        " --table codecs --pretrain-steps 2 --sft-steps 2 --requests 6");
  ASSERT_EQ(cr.code, 0) << cr.output;
  const auto codecs = nlohmann::json::parse(ReadFile(P("run/ablate/codecs.json")));
  ASSERT_EQ(codecs["codecs"].size(), 3u);
  std::map<std::string, nlohmann::json> by_codec;
  for (const auto& c : codecs["codecs"]) by_codec[c["codec"]] = c;
  ASSERT_EQ(by_codec.size(), 3u) << codecs.dump();
  EXPECT_EQ(by_codec["atomic"]["checkpoint"], P("run/sft/sft/final"));  // the run's own
  const auto catalog_size = static_cast<int64_t>(
      nlohmann::json::parse(ReadFile(P("run/sft/sft/final/codec.json")))["items"].size());
  // atomic: a token per song; semantic: code tokens; title: the words alone.
  const auto vocab = [&](const char* c) { return by_codec[c]["vocab_size"].get<int64_t>(); };
  EXPECT_GE(vocab("atomic"), vocab("title") + catalog_size);
  EXPECT_GT(vocab("semantic"), vocab("title"));
  for (const char* c : {"title", "semantic"}) {
    EXPECT_TRUE(by_codec[c].contains("stage3_train_loss")) << by_codec[c].dump();
    EXPECT_NE(ReadFile(by_codec[c]["checkpoint"].get<std::string>() + "/codec.json").find(c),
              std::string::npos);
  }
  EXPECT_NE(cr.output.find("| semantic | constrained |"), std::string::npos) << cr.output;
  // Table 5: one mixed phase of the four corpora for the curriculum's total steps (3 x 4, and
  // 4 x 4 for the general stage, MainJobGeneralSteps), benchmarked beside the stages into the
  // run's benchmarks.
  Result t5r = RunBinary("-q ablate --run " + P("run") + " --table 5 --per-kind 5");
  ASSERT_EQ(t5r.code, 0) << t5r.output;
  EXPECT_NE(ReadFile(P("run/ablate/table5/ablate.stamp")).find("steps=28"), std::string::npos);
  const auto t5 = nlohmann::json::parse(ReadFile(P("run/benchmarks/knowledge.json")));
  std::vector<std::string> t5names;
  for (const auto& row : t5["rows"]) t5names.push_back(row["checkpoint"]);
  EXPECT_EQ(t5names,
            (std::vector<std::string>{"pretrain:stage0_general", "pretrain:stage1_objective",
                                      "pretrain:stage2_subjective", "pretrain:stage3_behaviour",
                                      "pretrain:mixed", "sft", "grpo"}));
  EXPECT_TRUE(t5["rows"][4].contains("u2i")) << t5["rows"][4].dump();  // the corpus's tokenizer
  EXPECT_NE(t5r.output.find("| pretrain:mixed |"), std::string::npos) << t5r.output;
  // `report` again now holds the benchmarks' and every ablation table.
  Result rep = RunBinary("-q report --run " + P("run"));
  ASSERT_EQ(rep.code, 0) << rep.output;
  const std::string page2 = ReadFile(P("run/report/index.html"));
  EXPECT_NE(page2.find("<h2>Knowledge benchmarks (Table 5)</h2>"), std::string::npos);
  EXPECT_NE(page2.find("<td>+feedback</td>"), std::string::npos);
  for (const char* part :
       {"<h2>Ablation: every system (Table 3)</h2>", "<td>few_shot</td>",
        "<h2>Ablation: the training recipe (Table 4)</h2>", "<td>w/o personalisation</td>",
        "<h2>Ablation: item codecs side by side</h2>"})
    EXPECT_NE(page2.find(part), std::string::npos) << part;
  EXPECT_EQ(page2.find("Not measured in this run"), std::string::npos);
  Result ab_none = RunBinary("-q ablate --run " + P("nowhere"));
  EXPECT_EQ(ab_none.code, 1);
  EXPECT_NE(ab_none.output.find("the run has no store.sqlite"), std::string::npos)
      << ab_none.output;

  // The final checkpoint answers through `generate`: its codec.json travelled with it.
  const std::string ckpt = P("run/pretrain/stage3_behaviour/final");
  ASSERT_TRUE(fs::exists(ckpt + "/codec.json"));
  Result g = RunBinary(
      "-q generate --model " + ckpt + " --prompt 'something for a rainy evening drive' --n 3 " +
      "--temperature 0.8 --items 5 --one-per-artist --exclude s1,s2 --store " +
      P("run/store.sqlite") + " --user u1 --state 'evening, weekday, commute, car' --out " +
      P("answers.json"));
  ASSERT_EQ(g.code, 0) << g.output;
  const auto answers = nlohmann::json::parse(ReadFile(P("answers.json")));
  ASSERT_EQ(answers.size(), 3u);
  for (const auto& a : answers) {
    ASSERT_EQ(a["items"].size(), 5u) << a.dump();
    EXPECT_TRUE(a["problems"].empty()) << a.dump();
    std::set<std::string> artists;
    for (const auto& it : a["items"]) {
      EXPECT_NE(it["id"], "s1");
      EXPECT_NE(it["id"], "s2");
      EXPECT_TRUE(artists.insert(it["artist"].get<std::string>()).second) << a.dump();
      EXPECT_NE(g.output.find(it["id"].get<std::string>()), std::string::npos);  // printed too
    }
  }
  EXPECT_NE(ReadFile(P("answers.json.config.toml")).find("one-per-artist = true"),
            std::string::npos);
  Result free_text = RunBinary("-q generate --model " + ckpt +
                               " --prompt 'hype me up' --constrained=false --max-tokens 20");
  EXPECT_EQ(free_text.code, 0) << free_text.output;
  Result bad = RunBinary("-q generate --model " + ckpt + " --prompt x --exclude no_such_song");
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.output.find("no_such_song"), std::string::npos) << bad.output;
  Result no_ckpt = RunBinary("-q generate --model " + P("nowhere") + " --prompt x");
  EXPECT_EQ(no_ckpt.code, 1);
  EXPECT_NE(no_ckpt.output.find("config.json"), std::string::npos) << no_ckpt.output;
}

}  // namespace muchator
