// `muchator generate`: answers one request with a checkpoint, for quick manual use.
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/command.h"
#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "core/threads.h"
#include "data/store.h"
#include "infer/checkpoint.h"
#include "infer/engine.h"
#include "infer/flags.h"
#include "model/flags.h"
#include "text/chat.h"
#include "text/flags.h"

namespace muchator::cli {
namespace {

class GenerateCommand : public Command {
 public:
  std::string name() const override { return "generate"; }
  std::string description() const override {
    return "Answer a request with a checkpoint: the query is put in the chat template (with a "
           "listener's context "
           "from --store/--user) and the answer is a numbered list of catalog songs";
  }
  void Declare(Options& opts) override {
    AddPath(opts, PathFlag::kModel, &model_,
            "checkpoint directory (config.json, model.safetensors, tokenizer.json, codec.json)")
        .Required();
    opts.Add("prompt", &prompt_,
             "the listener's request, e.g. 'something for a rainy evening drive'")
        .Required();
    opts.Add("raw", &raw_,
             "send --prompt to the model as it is (template markers such as <|im_start|> allowed)");
    opts.Add("codec-file", &codec_, "codec.json to use instead of the checkpoint's");
    AddStore(opts, &store_, "SQLite store for --user's profile and recent behaviour");
    opts.Add("user", &user_, "listener id in --store (unknown = cold start)");
    opts.Add("state", &state_,
             "situation: 'time of day, day type, context, device', e.g. 'evening, weekday, "
             "commute, car'");
    opts.Add(kHistoryFlag, &history_, "recent events of --user put in the prompt");
    opts.Add(kConstrainedFlag, &constrained_,
             "only catalog songs in the list format (--constrained=false: free text)");
    opts.Add("items", &items_, "songs in the list").Range(1, 100);
    opts.Add("sentence", &sentence_, "allow one short sentence before the list");
    opts.Add("one-per-artist", &one_per_artist_, "at most one song per artist");
    opts.Add("exclude", &exclude_, "song ids that must not be recommended (comma-separated)");
    opts.Add(kTemperatureFlag, &sampling_.temperature);
    opts.Add("top-k", &top_k_, "sample among the k most likely tokens; 0 = all").Range(0, 1e9);
    opts.Add(kTopPFlag, &sampling_.top_p);
    AddSeed(opts, &seed_, "sampling seed (answer i uses seed + i)");
    opts.Add(kMaxTokensFlag, &max_tokens_);
    opts.Add("n", &n_, "answers to sample, decoded together in one batch").Range(1, 256);
    opts.Add("stream", &stream_, "print the raw text as it is generated (n = 1)");
    opts.Add("max-len", &max_len_,
             "tokens per sequence in the KV cache (prompt + answer); 0 = model default")
        .Range(0, 1e7);
    AddOut(opts, &out_, "also write the answers as JSON here (and the effective config beside it)");
    opts.Add("ignore-eos", &ignore_eos_,
             "go on past <|im_end|> and <|endoftext|> to --max-tokens (to time decoding)");
    opts.Add("logits-out", &logits_out_,
             "write the model's raw next-token logits at the first generated position of answer 1 "
             "(one JSON array, one value per vocabulary entry), e.g. to compare with llama.cpp");
    opts.Add(kBf16Flag, &bf16_,
             "multiply in bf16 where the CPU has AVX512-BF16 (fp32 accumulation); false = fp32 "
             "throughout, e.g. to compare --logits-out with another runtime's fp32 model");
    AddThreads(opts, &threads_);
  }

  int Run(const Options& opts) override {
    SetupThreads(static_cast<int>(threads_));
    Checkpoint ck = LoadCheckpoint(model_, codec_);
    if (constrained_ && !ck.grammar)
      throw Error("constrained decoding needs the item codec, and " + model_ + " has no codec.json",
                  "--model", "give --codec PATH (the corpus's codec.json) or --constrained=false");
    std::vector<int> prompt;
    size_t context = 0;  // the listener's context: pre-filled once for all --n answers
    if (raw_) {
      prompt = ck.tok->EncodeWithSpecial(prompt_);
    } else {
      if (!ck.codec)
        throw Error("the chat template needs the item codec (codec.json)", "--model",
                    "give --codec PATH or use --raw");
      UserContext ctx;
      if (!user_.empty()) {
        if (store_.empty())
          throw Error("--user needs --store", "--user", "give the store the user's events are in");
        Store store(store_);
        ctx = UserContextFromStore(store, ck.catalog, user_, kNoTimestamp,
                                   static_cast<int>(history_));
        if (!store.GetUser(user_))
          spdlog::warn("user '{}' is not in {}: cold-start context", user_, store_);
      }
      ctx.state = ParseStateText(state_);
      prompt =
          RenderPrompt(*ck.tok, *ck.codec, ctx, prompt_, static_cast<int>(history_), &context).ids;
    }
    EngineOptions eo;
    eo.max_batch = static_cast<int>(n_);
    eo.max_len = static_cast<int>(max_len_);
    if (!bf16_) eo.bf16_min_rows = 0, eo.bf16_kv_cache = false;
    Engine engine(ck.model, *ck.tok, ck.grammar.get(), eo);
    std::vector<GenerationRequest> reqs;
    for (int64_t i = 0; i < n_; ++i) {
      GenerationRequest r;
      r.prompt = prompt;
      r.cache_prefix = n_ > 1 ? static_cast<int>(context) : 0;
      r.sampling = sampling_;
      r.sampling.top_k = static_cast<int>(top_k_);
      r.sampling.seed = static_cast<uint64_t>(seed_ + i);
      r.sampling.max_new_tokens = static_cast<int>(max_tokens_);
      if (constrained_) {
        ConstraintOptions c;
        c.num_items = static_cast<int>(items_);
        c.allow_sentence = sentence_;
        c.one_per_artist = one_per_artist_;
        for (const auto& id : exclude_) {
          const int item = ck.catalog.Find(id);
          if (item < 0)
            throw Error("song '" + id + "' is not in the catalog", "--exclude",
                        "give song ids of the catalog");
          c.banned_items.push_back(item);
        }
        r.constraint = c;
      }
      if (ignore_eos_) r.stop_tokens = {-1};  // no token has id -1: nothing stops the sequence
      if (i == 0 && !logits_out_.empty())
        r.logits_hook = [this](std::span<float> l, std::span<const int> generated) {
          if (generated.empty()) first_logits_.assign(l.begin(), l.end());
        };
      if (stream_ && n_ == 1)
        r.on_tokens = [](std::span<const int>, std::string_view text) {
          std::fwrite(text.data(), 1, text.size(), stdout);
          std::fflush(stdout);
        };
      reqs.push_back(std::move(r));
    }
    const auto results = engine.Generate(std::move(reqs));
    nlohmann::json out = nlohmann::json::array();
    for (size_t i = 0; i < results.size(); ++i) {
      const auto& res = results[i];
      if (stream_ && n_ == 1) std::printf("\n");
      nlohmann::json j = {{"text", ck.tok->Decode(res.tokens)},
                          {"finish_reason", FinishReasonName(res.finish)},
                          {"prompt_tokens", res.prompt_tokens},
                          {"completion_tokens", res.tokens.size()},
                          {"tokens", res.tokens},
                          {"sampled_tokens", res.sampled_tokens},
                          {"forward_passes", res.forward_passes},
                          {"first_token_s", res.first_token_s},
                          {"total_s", res.total_s}};
      if (ck.codec) {
        ParsedAnswer p = ParseAnswer(*ck.tok, *ck.codec, res.tokens);
        if (n_ > 1) std::printf("--- answer %zu\n", i + 1);
        if (!p.sentence.empty()) std::printf("%s\n", p.sentence.c_str());
        nlohmann::json items = nlohmann::json::array();
        for (size_t k = 0; k < p.items.size(); ++k) {
          const auto& it = ck.catalog.items[p.items[k]];
          std::printf("%zu. %s  [%s]\n", k + 1, ck.codec->DisplayText(p.items[k]).c_str(),
                      it.id.c_str());
          items.push_back({{"id", it.id}, {"title", it.title}, {"artist", it.artist}});
        }
        for (const auto& bad : p.invalid_items)
          std::printf("   (not in the catalog: %s)\n", bad.c_str());
        for (const auto& pr : p.problems) spdlog::warn("answer {}: {}", i + 1, pr);
        j["items"] = items;
        j["invalid_items"] = p.invalid_items;
        j["problems"] = p.problems;
      } else {
        std::printf("%s\n", j["text"].get<std::string>().c_str());
      }
      spdlog::info(
          "answer {}: {} tokens ({} sampled, {} forward passes), first token {:.1f} ms, total "
          "{:.1f} ms, {}",
          i + 1, res.tokens.size(), res.sampled_tokens, res.forward_passes, res.first_token_s * 1e3,
          res.total_s * 1e3, FinishReasonName(res.finish));
      out.push_back(std::move(j));
    }
    if (!logits_out_.empty())
      WriteFileAtomic(logits_out_, nlohmann::json(first_logits_).dump() + "\n");
    if (!out_.empty()) {
      // Free text of a small model can cut UTF-8 characters: write U+FFFD for those bytes.
      WriteFileAtomic(out_,
                      out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
      opts.WriteEffective(out_ + ".config.toml");
    }
    return 0;
  }

 private:
  std::string model_, prompt_, codec_, store_, user_, state_, out_, logits_out_;
  std::vector<float> first_logits_;
  bool bf16_ = true;
  bool ignore_eos_ = false;
  bool raw_ = false, constrained_ = true, sentence_ = true, one_per_artist_ = false,
       stream_ = false;
  std::vector<std::string> exclude_;
  int64_t items_ = 10, history_ = kPromptHistory, top_k_ = 0, seed_ = 0, max_tokens_ = 256, n_ = 1,
          max_len_ = 0, threads_ = 0;
  SamplingOptions sampling_;
};

}  // namespace

std::unique_ptr<Command> MakeGenerateCommand() { return std::make_unique<GenerateCommand>(); }

}  // namespace muchator::cli
