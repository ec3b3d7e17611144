// End-to-end tests of the `muchator` binary: help, errors, world -> ingest, tokenizer, data
// conversion and ingestion under kills, user data, the step cache.
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

TEST_F(CliTest, HelpListsTheCommands) {
  Result r = RunBinary("--help");
  EXPECT_EQ(r.code, 0);
  for (auto cmd : {"pipeline", "world", "ingest"})
    EXPECT_NE(r.output.find(cmd), std::string::npos) << cmd;
  Result sub = RunBinary("ingest --help");
  EXPECT_EQ(sub.code, 0);
  EXPECT_NE(sub.output.find("--strict"), std::string::npos);
  EXPECT_NE(sub.output.find("--config"), std::string::npos);
}

TEST_F(CliTest, IngestsADirectoryAndTheStoreReadsItBack) {
  Write("artists", "{\"id\":\"a1\",\"name\":\"Lin Bo\"}\n");
  Write("songs",
        "{\"id\":\"s1\",\"title\":\"Rain Song\",\"artists\":[\"a1\"]}\n"
        "{\"id\":\"s2\",\"title\":\"Gym Beast\",\"artists\":[\"a1\"],\"year\":2010}\n");
  Write("users", "{\"id\":\"u1\"}\n");
  Write("events",
        "{\"user\":\"u1\",\"song\":\"s2\",\"ts\":20,\"feedback\":\"like\"}\n"
        "{\"user\":\"u1\",\"song\":\"s1\",\"ts\":10,\"feedback\":\"skip\"}\n"
        "{\"user\":\"u9\",\"song\":\"s1\",\"ts\":30,\"feedback\":\"skip\"}\n");
  Result r = RunBinary("ingest --input " + P("in") + " --store " + P("out/store.db"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("events.jsonl"), std::string::npos);
  EXPECT_NE(r.output.find("1 rows quarantined"), std::string::npos) << r.output;
  Store store(P("out/store.db"));
  auto t = store.UserTimeline("u1");
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].song, "s1");
  EXPECT_EQ(store.FindSongs("gym beast", "lin bo").size(), 1u);
  EXPECT_TRUE(fs::exists(P("out/store.db.ingest.config.toml")));
  EXPECT_NE(ReadFile(P("out/store.db.ingest.config.toml")).find("input = "), std::string::npos);
  EXPECT_NE(ReadFile(P("out/store.db.quarantine.jsonl")).find("unknown user 'u9'"),
            std::string::npos);
}

TEST_F(CliTest, UserErrorsAreOneClearLineAndNonZero) {
  Result missing = RunBinary("ingest");
  EXPECT_NE(missing.code, 0);
  EXPECT_NE(missing.output.find("--input"), std::string::npos) << missing.output;
  Result nodir = RunBinary("ingest --input " + P("nope") + " --store " + P("s.db"));
  EXPECT_EQ(nodir.code, 1);
  EXPECT_EQ(nodir.output.rfind("error: ", 0), 0u) << nodir.output;
  EXPECT_NE(nodir.output.find("not a directory"), std::string::npos);
  Result bad = RunBinary("world --size huge --out " + P("w"));
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.output.find("tiny"), std::string::npos) << bad.output;
}

TEST_F(CliTest, WorldThroughIngestWithConfigFileAndOverride) {
  WriteFileAtomic(P("world.toml"), "size = \"tiny\"\nseed = 5\nusers = 50\n");
  Result w = RunBinary("-q world --config " + P("world.toml") + " --users 40 --out " + P("w"));
  ASSERT_EQ(w.code, 0) << w.output;
  EXPECT_NE(w.output.find("40 users"), std::string::npos) << w.output;  // the flag beat the file
  const std::string effective = ReadFile(P("w/world.config.toml"));
  EXPECT_NE(effective.find("users = 40"), std::string::npos) << effective;
  EXPECT_NE(effective.find("seed = 5"), std::string::npos) << effective;
  Result in = RunBinary("-q ingest --strict --input " + P("w") + " --store " + P("store.db"));
  ASSERT_EQ(in.code, 0) << in.output;
  Store store(P("store.db"));
  EXPECT_EQ(store.Counts().users, 40);
  EXPECT_EQ(store.Counts().songs, 500);
}

TEST_F(CliTest, TrainTokenizerThenTokenizeRoundTripsThroughTheBinary) {
  ASSERT_EQ(RunBinary("-q world --size tiny --out " + P("w")).code, 0);
  ASSERT_EQ(RunBinary("-q ingest --input " + P("w") + " --store " + P("s.db")).code, 0);
  Result t =
      RunBinary("-q train-tokenizer --store " + P("s.db") + " --vocab-size 2000 --out " + P("tok"));
  ASSERT_EQ(t.code, 0) << t.output;
  EXPECT_TRUE(fs::exists(P("tok/tokenizer.json")));
  EXPECT_TRUE(fs::exists(P("tok/tokenizer.config.toml")));
  const std::string text = "late night drive, 中文 🎵\n  two spaces";
  WriteFileAtomic(P("text.txt"), text);
  Result ids = RunBinary("tokenize --tokenizer " + P("tok") + " < " + P("text.txt"));
  ASSERT_EQ(ids.code, 0) << ids.output;
  EXPECT_EQ(std::count(ids.output.begin(), ids.output.end(), '\n'), 1);
  WriteFileAtomic(P("ids.txt"), ids.output);
  Result back =
      RunBinary("tokenize --decode --tokenizer " + P("tok/tokenizer.json") + " < " + P("ids.txt"));
  ASSERT_EQ(back.code, 0);
  EXPECT_EQ(back.output, text);
  // Many texts in one process: one JSON string per line, one line of ids each, the same ids.
  WriteFileAtomic(P("texts.jsonl"), nlohmann::json(text).dump() + "\n\"\"\n\"a\"\n");
  Result many = RunBinary("tokenize --jsonl --tokenizer " + P("tok") + " < " + P("texts.jsonl"));
  ASSERT_EQ(many.code, 0) << many.output;
  EXPECT_EQ(many.output.substr(0, many.output.find('\n') + 1), ids.output);
  EXPECT_EQ(std::count(many.output.begin(), many.output.end(), '\n'), 3) << many.output;
  WriteFileAtomic(P("notjson.jsonl"), "\"ok\"\nnot json\n");
  Result nj = RunBinary("tokenize --jsonl --tokenizer " + P("tok") + " < " + P("notjson.jsonl"));
  EXPECT_EQ(nj.code, 1);
  EXPECT_NE(nj.output.find("line 2 is not a JSON string"), std::string::npos) << nj.output;
  Result both =
      RunBinary("tokenize --jsonl --decode --tokenizer " + P("tok") + " < " + P("ids.txt"));
  EXPECT_EQ(both.code, 1);
  EXPECT_NE(both.output.find("--decode and --jsonl together"), std::string::npos) << both.output;
  WriteFileAtomic(P("bad.txt"), "1 2 x");
  Result bad = RunBinary("tokenize --decode --tokenizer " + P("tok") + " < " + P("bad.txt"));
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.output.find("'x' is not a token id"), std::string::npos) << bad.output;
}

TEST_F(CliTest, TokenizeMatchesGpt2ThroughTheBinary) {
  const char* src = std::getenv("MUCHATOR_SOURCE_DIR");
  const std::string vocab =
      std::string(src ? src : ".") + "/../shared/tokenizers/gpt2/gpt2-vocab.json";
  if (!fs::exists(vocab)) GTEST_SKIP() << "../shared/tokenizers/gpt2 is absent";
  WriteFileAtomic(P("t.txt"), " Hello, world!");
  Result r = RunBinary("tokenize --tokenizer " + vocab + " < " + P("t.txt"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(r.output, "18435 11 995 0\n");
}

// Every row of every table of a SQLite file, each table's rows sorted: equal digests are equal
// stores. "" when the file does not exist.
std::string StoreDigest(const std::string& path) {
  if (!fs::exists(path)) return "";
  sql::Db db(path, /*read_only=*/true);
  std::vector<std::string> tables;
  for (sql::Stmt t(db, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name");
       t.Step();)
    tables.push_back(t.Text(0));
  std::string out;
  for (const auto& table : tables) {
    std::vector<std::string> rows;
    sql::Stmt q(db, ("SELECT * FROM \"" + table + "\"").c_str());
    while (q.Step()) {
      std::string row;
      for (int c = 0; c < q.columns(); ++c) row += (q.IsNull(c) ? "NULL" : q.Text(c)) + "\x1f";
      rows.push_back(row);
    }
    std::sort(rows.begin(), rows.end());
    out += table + ":" + std::to_string(rows.size()) + "\n";
    for (const auto& r : rows) out += r + "\n";
  }
  return out;
}

int64_t Rows(const std::string& path, const std::string& table) {
  sql::Db db(path, /*read_only=*/true);
  sql::Stmt q(db, ("SELECT count(*) FROM " + table).c_str());
  q.Step();
  return q.Int(0);
}

// kill -9 at several moments of an ingestion: the store is then either as it was before (empty,
// or the earlier ingestion's) or complete - one transaction - and ingesting again gives exactly
// the store of a clean ingestion.
TEST_F(CliTest, IngestSurvivesSigkillAtAnyMoment) {
  ASSERT_EQ(RunBinary("-q world --size tiny --events 150000 --out " + P("w")).code, 0);
  const std::string ingest = "-q ingest --input " + P("w") + " --store ";
  ASSERT_EQ(RunBinary(ingest + P("clean.sqlite")).code, 0);
  const std::string clean = StoreDigest(P("clean.sqlite"));
  ASSERT_GT(Rows(P("clean.sqlite"), "events"), 100000);
  int killed_mid_run = 0;
  for (int delay_ms : {30, 120, 250, 400, 600, 900, 1300}) {
    const std::string store = P("k" + std::to_string(delay_ms) + ".sqlite");
    // Half of the runs start from an earlier, smaller store (the songs alone): "as before" is then
    // that store.
    const bool earlier = delay_ms % 20 == 0;
    if (earlier) {
      fs::create_directories(P("songs_only"));
      fs::copy_file(P("w/songs.jsonl"), P("songs_only/songs.jsonl"),
                    fs::copy_options::overwrite_existing);
      fs::copy_file(P("w/artists.jsonl"), P("songs_only/artists.jsonl"),
                    fs::copy_options::overwrite_existing);
      ASSERT_EQ(RunBinary("-q ingest --input " + P("songs_only") + " --store " + store).code, 0);
    }
    const std::string before = StoreDigest(store);
    const pid_t pid = ::fork();
    if (pid == 0) {
      const std::string cmd =
          std::string(MUCHATOR_BIN) + " " + ingest + store + " > /dev/null 2>&1";
      ::execl("/bin/sh", "sh", "-c", ("exec " + cmd).c_str(), nullptr);
      ::_exit(127);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    killed_mid_run += WIFSIGNALED(status);
    const std::string after = StoreDigest(store);
    EXPECT_TRUE(after == before || after == clean)
        << "killed after " << delay_ms << " ms: a partial store (" << after.substr(0, 200) << ")";
    ASSERT_EQ(RunBinary(ingest + store).code, 0);
    EXPECT_EQ(StoreDigest(store), clean) << "re-ingest after the kill at " << delay_ms << " ms";
  }
  EXPECT_GE(killed_mid_run, 3) << "too few kills landed before the ingestion finished";
}

TEST_F(CliTest, PretrainMixedAndFromACheckpoint) {
  ASSERT_EQ(RunBinary("-q pipeline --world-preset tiny --vocab-size 800 --pretrain-steps 0 --out " +
                      P("run"))
                .code,
            0);
  const std::string common =
      "-q pretrain --corpus " + P("run/corpus") + " --steps 3 --seq-len 32 --batch-size 2 ";
  Result mixed = RunBinary(common + "--stages general,objective --mixed --out " + P("m"));
  ASSERT_EQ(mixed.code, 0) << mixed.output;
  EXPECT_TRUE(fs::exists(P("m/mixed/final/model.safetensors")));
  EXPECT_FALSE(fs::exists(P("m/stage0_general")));
  EXPECT_NE(mixed.output.find("mixed: 3 steps"), std::string::npos) << mixed.output;
  Result init =
      RunBinary(common + "--stages behaviour --init " + P("m/mixed/final") + " --out " + P("i"));
  ASSERT_EQ(init.code, 0) << init.output;
  EXPECT_TRUE(fs::exists(P("i/stage3_behaviour/final/tokenizer.json")));
  Result bad = RunBinary(common + "--stages lyrics --out " + P("x"));
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.output.find("unknown stage 'lyrics'"), std::string::npos) << bad.output;
}

// Real data often lacks a stage (no general-knowledge documents): the main job skips it.
TEST_F(CliTest, ConvertThenIngestARealDataset) {
  const char* src = std::getenv("MUCHATOR_SOURCE_DIR");
  const std::string data = std::string(src ? src : ".") + "/../shared/data/music-reco-ner";
  if (!fs::exists(data)) GTEST_SKIP() << "../shared/data/music-reco-ner is absent";
  Result c = RunBinary("convert musicreconer --input " + data + " --out " + P("q"));
  ASSERT_EQ(c.code, 0) << c.output;
  EXPECT_NE(c.output.find("written queries.jsonl: 2551 rows"), std::string::npos) << c.output;
  EXPECT_TRUE(fs::exists(P("q/convert.json")));
  EXPECT_TRUE(fs::exists(P("q/convert.config.toml")));
  Result i = RunBinary("-q ingest --strict --input " + P("q") + " --store " + P("q.db"));
  EXPECT_EQ(i.code, 0) << i.output;
  Result bad = RunBinary("convert spotify --input " + data + " --out " + P("x"));
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.output.find("spotify"), std::string::npos) << bad.output;
}

TEST_F(CliTest, PipelineOnUserDataWithoutGeneralDocumentsSkipsThatStage) {
  ASSERT_EQ(RunBinary("-q world --size tiny --out " + P("w")).code, 0);
  fs::remove_all(P("w/oracle"));
  // Keep only documents that are not general knowledge.
  std::string kept;
  LineReader r(P("w/documents.jsonl"));
  std::string line;
  while (r.Next(line))
    if (line.find("\"kind\":\"general\"") == std::string::npos) kept += line + "\n";
  WriteFileAtomic(P("w/documents.jsonl"), kept);
  // Data isolation: training never needs the oracle (removed above) or a test-split request
  // (removed here); the training requests' search logs reach UQ2I through the ingestion format.
  std::string train_queries;
  LineReader qr(P("w/queries.jsonl"));
  while (qr.Next(line))
    if (line.find("\"split\":\"test\"") == std::string::npos) train_queries += line + "\n";
  WriteFileAtomic(P("w/queries.jsonl"), train_queries);
  // The title codec writes a song with several tokens: no generative judge, the yes/no one.
  const std::string args =
      " --model-size tiny --pretrain-steps 2 --ranker-epochs 1 --judge-steps 2 --sft-steps 2 "
      "--grpo-steps 1 --vocab-size 600 --codec title --out " +
      P("run");
  Result res = RunBinary("pipeline --input " + P("w") + args);
  ASSERT_EQ(res.code, 0) << res.output;
  EXPECT_NE(res.output.find("training the yes/no judge instead"), std::string::npos) << res.output;
  EXPECT_TRUE(fs::exists(P("run/judge/judge_songs.jsonl")));
  EXPECT_NE(res.output.find("stage0_general: 0 document(s) in the corpus, stage skipped"),
            std::string::npos)
      << res.output;
  EXPECT_TRUE(fs::exists(P("run/pretrain/stage3_behaviour/final/model.safetensors")));
  EXPECT_FALSE(fs::exists(P("run/world")));
  const auto synth = nlohmann::json::parse(ReadFile(P("run/uq2i/synth_summary.json")));
  EXPECT_GT(synth["from_own_requests"].get<int64_t>(), 10) << synth.dump();
  EXPECT_GT(synth["from_borrowed_requests"].get<int64_t>(), 10) << synth.dump();
  EXPECT_EQ(synth["from_cluster_anchors"].get<int64_t>(), 0) << synth.dump();

  // The step cache keys the ingest step by the data's content, not its path or time: the same
  // data is not ingested again, changed data is (and every step after it is redone).
  const std::string again = "-q pipeline --input " + P("w") + args;
  res = RunBinary(again);
  ASSERT_EQ(res.code, 0) << res.output;
  EXPECT_NE(res.output.find("step 2/10 ingest: cached"), std::string::npos) << res.output;
  EXPECT_NE(res.output.find("step 9/10 grpo: cached"), std::string::npos) << res.output;
  WriteFileAtomic(P("w/documents.jsonl"), kept.substr(0, kept.rfind('\n', kept.size() - 2) + 1));
  res = RunBinary(again);
  ASSERT_EQ(res.code, 0) << res.output;
  EXPECT_EQ(res.output.find(": cached"), std::string::npos) << res.output;
}

// The main job's step cache (RUN/steps): an interrupted run resumes its step exactly, a re-run
// with the same settings redoes nothing, a changed setting redoes that step and those after it,
// and a step turned off leaves no outputs behind for the report to mistake for this run's.
TEST_F(CliTest, PipelineCachesItsStepsAndResumesAnInterruptedOne) {
  const std::string common =
      "pipeline --world-preset tiny --vocab-size 1500 --model-size tiny --pretrain-steps 4 "
      "--ranker-epochs 1 --judge-steps 2 --report-requests 10 --bf16=false --seed 2 ";
  const std::string run = " --out " + P("run");
  ::setenv("MUCHATOR_CRASH_AT", "step:3", 1);  // stage 0, after its step-2 checkpoint
  Result crashed = RunBinary("-q " + common + "--sft-steps 2 --grpo-steps 2" + run);
  ::unsetenv("MUCHATOR_CRASH_AT");
  ASSERT_EQ(crashed.code, 9) << crashed.output;
  EXPECT_TRUE(fs::exists(P("run/steps/pretrain.started")));
  EXPECT_TRUE(fs::exists(P("run/steps/corpus.done")));
  EXPECT_FALSE(fs::exists(P("run/steps/pretrain.done")));

  Result resumed = RunBinary(common + "--sft-steps 2 --grpo-steps 2" + run);
  ASSERT_EQ(resumed.code, 0) << resumed.output;
  for (auto step :
       {"step 1/10 world: cached", "step 4/10 corpus: cached", "pre-training the tiny model",
        "(resuming the interrupted run)", "resumed from"})
    EXPECT_NE(resumed.output.find(step), std::string::npos) << step << "\n" << resumed.output;
  // The same pre-trained weights as a run that was never interrupted: the tiny run's, whose
  // pre-training settings these are (kTinyRunArgs).
  const std::string ref = TinyRun(), model = "pretrain/stage3_behaviour/final/model.safetensors";
  EXPECT_EQ(ReadFile(P("run/" + model)), ReadFile(ref + "/" + model));
  EXPECT_EQ(LossLog(P("run/pretrain/stage0_general/log.jsonl")),
            LossLog(ref + "/pretrain/stage0_general/log.jsonl"));
  // The pre-training summary lists every stage, also the ones finished before the interruption.
  EXPECT_EQ(nlohmann::json::parse(ReadFile(P("run/pretrain/pretrain_summary.json"))).size(), 4u);

  // Same settings: every step cached, the report's table printed again, nothing rewritten.
  auto mtime = [&](const std::string& rel) { return fs::last_write_time(P("run/" + rel)); };
  const auto pre = mtime(model), sft = mtime("sft/sft/final/model.safetensors"),
             grpo = mtime("grpo/grpo/final/model.safetensors");
  Result cached = RunBinary("-q " + common + "--sft-steps 2 --grpo-steps 2" + run);
  ASSERT_EQ(cached.code, 0) << cached.output;
  for (int n = 1; n <= 10; ++n)
    EXPECT_NE(cached.output.find("step " + std::to_string(n) + "/10 "), std::string::npos) << n;
  size_t hits = 0;
  for (size_t at = 0; (at = cached.output.find(": cached (", at)) != std::string::npos; ++at)
    ++hits;
  EXPECT_EQ(hits, 10u) << cached.output;
  EXPECT_NE(cached.output.find("| grpo | constrained |"), std::string::npos) << cached.output;
  EXPECT_EQ(mtime(model), pre);
  EXPECT_EQ(mtime("grpo/grpo/final/model.safetensors"), grpo);

  // One more GRPO step: steps 1-8 reused, GRPO and the report redone.
  Result more = RunBinary("-q " + common + "--sft-steps 2 --grpo-steps 3" + run);
  ASSERT_EQ(more.code, 0) << more.output;
  EXPECT_NE(more.output.find("step 8/10 judge: cached"), std::string::npos) << more.output;
  EXPECT_EQ(more.output.find("step 9/10 grpo: cached"), std::string::npos) << more.output;
  EXPECT_EQ(more.output.find("step 10/10 report: cached"), std::string::npos) << more.output;
  EXPECT_EQ(mtime(model), pre);
  EXPECT_EQ(mtime("sft/sft/final/model.safetensors"), sft);
  EXPECT_EQ(Lines(P("run/grpo/grpo/log.jsonl")).size(), 3u);

  // GRPO turned off: its checkpoint goes and the report has no GRPO row. Another judge is built
  // without training anything again (the judge is its own step, after SFT).
  EXPECT_EQ(nlohmann::json::parse(ReadFile(P("run/judge/judge.json")))["kind"], "prf");
  Result no_rl = RunBinary("-q " + common + "--sft-steps 2 --grpo-steps 0 --judge-kind pmi" + run);
  ASSERT_EQ(no_rl.code, 0) << no_rl.output;
  EXPECT_NE(no_rl.output.find("step 7/10 sft: cached"), std::string::npos) << no_rl.output;
  EXPECT_EQ(no_rl.output.find("step 8/10 judge: cached"), std::string::npos) << no_rl.output;
  EXPECT_EQ(nlohmann::json::parse(ReadFile(P("run/judge/judge.json")))["kind"], "pmi");
  EXPECT_EQ(mtime("sft/sft/final/model.safetensors"), sft);
  EXPECT_FALSE(fs::exists(P("run/grpo")));
  EXPECT_FALSE(fs::exists(P("run/steps/grpo.done")));
  EXPECT_EQ(ReadFile(P("run/report/report.md")).find("| grpo |"), std::string::npos);
  EXPECT_NE(ReadFile(P("run/report/report.md")).find("| sft |"), std::string::npos);

  // --fresh redoes every step; with pre-training off nothing trained is left.
  Result fresh = RunBinary(
      "-q pipeline --world-preset tiny --vocab-size 1500 --pretrain-steps 0 --fresh" + run);
  ASSERT_EQ(fresh.code, 0) << fresh.output;
  EXPECT_EQ(fresh.output.find(": cached"), std::string::npos) << fresh.output;
  for (auto gone : {"pretrain", "ranker", "judge", "sft", "report", "samples.json"})
    EXPECT_FALSE(fs::exists(P("run/") + gone)) << gone;
  EXPECT_TRUE(fs::exists(P("run/steps/corpus.done")));
}

}  // namespace muchator
