#include "train/trainer.h"

#include <ATen/autocast_mode.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "core/cpu.h"
#include "core/error.h"
#include "core/file.h"
#include "core/log.h"
#include "corpus/builders.h"
#include "text/tokenizer.h"
#include "train/fused_loss.h"
#include "train/packer.h"

namespace muchator {

namespace fs = std::filesystem;
using nlohmann::json;

double LearningRate(const TrainOptions& o, int64_t step) {
  if (step < o.warmup_steps) return o.lr * (step + 1) / static_cast<double>(o.warmup_steps);
  const double span = std::max<int64_t>(1, o.steps - o.warmup_steps);
  const double progress = std::min(1.0, (step - o.warmup_steps) / span);
  const double min_lr = o.lr * o.min_lr_ratio;
  return min_lr + 0.5 * (o.lr - min_lr) * (1.0 + std::cos(M_PI * progress));
}

torch::Tensor MaskedCrossEntropy(const torch::Tensor& logits, const torch::Tensor& targets,
                                 const torch::Tensor& mask) {
  const int64_t V = logits.size(-1);
  auto ce = torch::nn::functional::cross_entropy(
      logits.reshape({-1, V}), targets.reshape({-1}),
      torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));  // (B*T)
  auto m = mask.reshape({-1}).to(ce.scalar_type());
  return (ce * m).sum() / m.sum().clamp_min(1.0);
}

namespace {

// Autocast to bf16 on CPU for the forward pass, when asked.
struct AutocastGuard {
  explicit AutocastGuard(bool on) : on_(on) {
    if (on_) {
      at::autocast::set_cpu_enabled(true);
      at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
    }
  }
  ~AutocastGuard() {
    if (on_) {
      at::autocast::set_cpu_enabled(false);
      at::autocast::clear_cache();
    }
  }
  bool on_;
};

torch::Tensor ForwardLoss(Qwen3ForCausalLM& model, const Batch& packed, bool bf16, bool split) {
  const std::optional<Batch> one_per_row = split ? SplitDocuments(packed) : std::nullopt;
  const Batch& b = one_per_row ? *one_per_row : packed;
  return LanguageModelLoss(model, b.ids, b.positions, b.doc_ids, b.targets, b.mask, bf16);
}

}  // namespace

torch::Tensor LanguageModelLoss(Qwen3ForCausalLM& model, const torch::Tensor& ids,
                                const torch::Tensor& positions, const torch::Tensor& doc_ids,
                                const torch::Tensor& targets, const torch::Tensor& mask,
                                bool bf16) {
  // bf16 where the CPU has it natively; emulated bf16 is far slower than fp32.
  static const bool native = [] {
    if (!CpuHasNativeBf16())
      spdlog::warn("this CPU has no native bf16 (AVX512-BF16/AMX): training in fp32 instead");
    return CpuHasNativeBf16();
  }();
  if (!bf16 || !native) {
    // Where most positions carry no loss (SFT: the prompt), the LM head (vocabulary x hidden, the
    // largest product of a small model) runs on the loss positions only; the loss is the same.
    const int64_t counted = mask.sum().item<int64_t>();
    if (counted * 4 > mask.numel() * 3)
      return MaskedCrossEntropy(model->forward(ids, positions, doc_ids), targets, mask);
    const auto h = model->Hidden(ids, positions, doc_ids);
    const auto rows = mask.reshape({-1}).nonzero().squeeze(1);
    if (counted == 0) return (h * 0).sum();
    const auto hs = h.reshape({-1, h.size(-1)}).index_select(0, rows);
    return torch::nn::functional::cross_entropy(torch::linear(hs, model->LmWeight()),
                                                targets.reshape({-1}).index_select(0, rows));
  }
  torch::Tensor h;
  {
    AutocastGuard g(true);
    h = model->Hidden(ids, positions, doc_ids);
  }
  return FusedLinearCrossEntropyBf16(h, model->LmWeight(), targets, mask);
}

namespace {

std::string StepDir(int64_t step) { return "ckpt-" + std::to_string(step); }

// Rewrites the log keeping only lines of steps <= `step` (after a resume).
void TruncateLog(const std::string& path, int64_t step) {
  if (!fs::exists(path)) return;
  std::ifstream in(path);
  std::string line, kept;
  while (std::getline(in, line)) {
    try {
      if (json::parse(line).at("step").get<int64_t>() <= step) kept += line + "\n";
    } catch (const std::exception&) {
      // a torn last line from a kill: dropped
    }
  }
  WriteFileAtomic(path, kept);
}

}  // namespace

bool CrashHere(const TrainOptions& o, const std::string& kind, int64_t step) {
  std::string spec = o.crash_at;
  if (spec.empty())
    if (const char* e = std::getenv("MUCHATOR_CRASH_AT")) spec = e;
  if (spec != kind + ":" + std::to_string(step)) return false;
  // In a data-parallel job MUCHATOR_CRASH_RANK=R limits the crash to one rank.
  const char* only = std::getenv("MUCHATOR_CRASH_RANK");
  return !only || !o.group || std::to_string(o.group->rank()) == only;
}

torch::optim::AdamW MakeOptimizer(Qwen3ForCausalLM& model, const TrainOptions& o) {
  std::vector<torch::Tensor> decay, no_decay;
  for (auto& p : model->named_parameters())
    (p.value().dim() >= 2 ? decay : no_decay).push_back(p.value());
  auto opts =
      torch::optim::AdamWOptions(o.lr).betas({o.beta1, o.beta2}).weight_decay(o.weight_decay);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(opts));
  groups.emplace_back(
      no_decay, std::make_unique<torch::optim::AdamWOptions>(
                    torch::optim::AdamWOptions(o.lr).betas({o.beta1, o.beta2}).weight_decay(0.0)));
  return torch::optim::AdamW(std::move(groups), opts);
}

void SaveResumeCheckpoint(Qwen3ForCausalLM& model, torch::optim::AdamW& opt, const std::string& dir,
                          int64_t step, const json& state, const TrainOptions& o) {
  const std::string final_dir = dir + "/" + StepDir(step), tmp = final_dir + ".tmp";
  fs::remove_all(tmp);
  SaveModel(model, tmp);
  if (CrashHere(o, "ckpt", step)) std::_Exit(9);  // half-written checkpoint
  torch::save(opt, tmp + "/optimizer.pt");
  WriteFileAtomic(tmp + "/trainer_state.json", state.dump(1) + "\n");
  fs::remove_all(final_dir);
  fs::rename(tmp, final_dir);
  WriteFileAtomic(dir + "/latest", StepDir(step) + "\n");
  // Keep the newest two complete checkpoints.
  for (auto& e : fs::directory_iterator(dir)) {
    const std::string n = e.path().filename().string();
    if (n.rfind("ckpt-", 0) != 0 || n.find(".tmp") != std::string::npos) continue;
    const int64_t s = std::stoll(n.substr(5));
    if (s < step - o.ckpt_every) fs::remove_all(e.path());
  }
}

json ResumeFromLatest(Qwen3ForCausalLM& model, torch::optim::AdamW& opt, const std::string& dir) {
  const std::string log_path = dir + "/log.jsonl";
  json state;
  if (fs::exists(dir + "/latest")) {
    std::string latest = ReadFile(dir + "/latest");
    latest.erase(latest.find_last_not_of(" \n") + 1);
    const std::string ck = dir + "/" + latest;
    state = json::parse(ReadFile(ck + "/trainer_state.json"));
    Qwen3ForCausalLM loaded = LoadModel(ck);
    {
      torch::NoGradGuard g;
      auto dst = model->named_parameters();
      for (auto& p : loaded->named_parameters()) dst[p.key()].copy_(p.value());
    }
    torch::load(opt, ck + "/optimizer.pt");
    TruncateLog(log_path, state.at("step").get<int64_t>());
    spdlog::info("resumed from {} (step {})", ck, state.at("step").get<int64_t>());
  } else {
    WriteFileAtomic(log_path, "");
  }
  for (auto& e : fs::directory_iterator(dir))  // leftovers of an interrupted checkpoint
    if (e.path().extension() == ".tmp") fs::remove_all(e.path());
  return state;
}

void SaveFinal(Qwen3ForCausalLM& model, const std::string& dir, const std::string& tokenizer_json,
               int64_t steps) {
  SaveModel(model, dir);
  if (!tokenizer_json.empty()) {
    WriteFileAtomic(dir + "/tokenizer.json", ReadFile(tokenizer_json));
    // The item codec beside the tokenizer travels with the checkpoint, so generation and
    // serving need only this directory.
    const std::string codec =
        std::filesystem::path(tokenizer_json).parent_path().string() + "/codec.json";
    if (FileExists(codec)) WriteFileAtomic(dir + "/codec.json", ReadFile(codec));
  }
  WriteFileAtomic(dir + "/DONE", std::to_string(steps) + "\n");
}

void MergeCheckpoints(const std::string& init_dir, const std::vector<std::string>& runs, double a,
                      const std::string& out_dir, int64_t steps) {
  if (runs.empty()) throw Error("no checkpoints to merge", init_dir, "give at least one run");
  torch::NoGradGuard g;
  Qwen3ForCausalLM merged = LoadModel(init_dir);
  auto out = merged->named_parameters();
  std::unordered_map<std::string, torch::Tensor> sum;
  for (const auto& dir : runs) {
    Qwen3ForCausalLM run = LoadModel(dir);
    const auto params = run->named_parameters();
    if (params.size() != out.size())
      throw Error("has " + std::to_string(params.size()) + " tensors, the start has " +
                      std::to_string(out.size()),
                  dir, "merge only checkpoints trained from " + init_dir);
    for (const auto& p : params) {
      const torch::Tensor* start = out.find(p.key());
      if (!start || !start->sizes().equals(p.value().sizes()))
        throw Error("tensor " + p.key() + " is not in the start or has another shape", dir,
                    "merge only checkpoints trained from " + init_dir);
      auto [it, fresh] = sum.try_emplace(p.key(), p.value().clone());
      if (!fresh) it->second.add_(p.value());
    }
  }
  const double n = static_cast<double>(runs.size());
  for (auto& p : out)  // init + a (mean - init), in place
    p.value().mul_(1 - a).add_(sum.at(p.key()), a / n);
  const std::string tok = runs[0] + "/tokenizer.json";
  SaveFinal(merged, out_dir, FileExists(tok) ? tok : "", steps);
}

double HeldoutLoss(Qwen3ForCausalLM& model, const std::string& corpus_dir, const std::string& stage,
                   const TrainOptions& o) {
  torch::NoGradGuard g;
  Packer p(corpus_dir, {stage}, o.seq_len, o.seed, /*held_out=*/true);
  p.set_whole_documents(o.whole_documents);
  double total = 0, weight = 0;
  for (int64_t i = 0; i < o.eval_batches; ++i) {
    Batch b = p.Next(o.batch_size);
    if (b.loss_tokens == 0) continue;
    total += ForwardLoss(model, b, o.bf16, o.split_documents).item<double>() * b.loss_tokens;
    weight += b.loss_tokens;
  }
  return weight > 0 ? total / weight : 0.0;
}

// A stage's result as written to OUT/<stage>/final/result.json and pretrain_summary.json.
static json StageResultJson(const StageResult& r) {
  json h = json::object();
  for (auto& [s, l] : r.heldout) h[s] = l;
  return {{"stage", r.stage}, {"steps", r.steps}, {"final_loss", r.final_loss}, {"heldout", h}};
}
static StageResult StageResultFromJson(const json& j, const std::string& stage) {
  StageResult r;
  r.stage = stage;
  r.steps = j.at("steps").get<int64_t>();
  r.final_loss = j.at("final_loss").get<double>();
  for (auto& [s, l] : j.at("heldout").items()) r.heldout.push_back({s, l.get<double>()});
  return r;
}

StageResult TrainStage(Qwen3ForCausalLM& model, const std::string& corpus_dir,
                       const std::vector<std::string>& train_stages,
                       const std::vector<std::string>& eval_stages, const std::string& out_dir,
                       const std::string& name, const TrainOptions& o, bool resume,
                       const std::string& tokenizer_json) {
  const std::string dir = out_dir + "/" + name;
  dist::Group* group = o.group.get();
  const int64_t ranks = group ? group->size() : 1, rank = group ? group->rank() : 0;
  const bool root = rank == 0;
  if (o.batch_size % ranks != 0)
    throw Error("--batch-size " + std::to_string(o.batch_size) + " does not divide among " +
                    std::to_string(ranks) + " ranks",
                "--batch-size", "use a multiple of --world-size (the batch is the global one)");
  MakeDirs(dir);
  torch::manual_seed(o.seed);
  model->train();
  auto opt = MakeOptimizer(model, o);
  Packer packer(corpus_dir, train_stages, o.seq_len, o.seed);
  packer.set_whole_documents(o.whole_documents);
  int64_t start = 0;
  const std::string log_path = dir + "/log.jsonl";
  if (resume) {
    const json state = ResumeFromLatest(model, opt, dir);
    if (!state.is_null()) {
      start = state.at("step").get<int64_t>();
      packer.Skip(start * o.grad_accum, o.batch_size);
    }
  } else if (root) {
    WriteFileAtomic(log_path, "");
    for (auto& e : fs::directory_iterator(dir))  // leftovers of an interrupted checkpoint
      if (e.path().extension() == ".tmp") fs::remove_all(e.path());
  }
  std::vector<torch::Tensor> params = model->parameters();
  if (group) group->Broadcast(params);  // identical starting weights on every rank
  // Test hook: MUCHATOR_WEIGHT_DIGEST=1 writes each rank's weight digest after every step.
  std::ofstream digest;
  if (std::getenv("MUCHATOR_WEIGHT_DIGEST"))
    digest.open(dir + "/digest.rank" + std::to_string(rank) + ".txt", std::ios::app);
  std::ofstream log;
  if (root) log.open(log_path, std::ios::app);
  StageResult result{name, o.steps, 0, {}};
  const int64_t tokens_per_step = o.batch_size * o.seq_len * o.grad_accum;
  Progress progress("train " + name, o.steps * tokens_per_step,
                    "tok");  // other ranks log warnings only
  progress.Set(start * tokens_per_step);
  auto window_start = std::chrono::steady_clock::now();
  int64_t window_steps = 0;
  double last_loss = 0;
  for (int64_t step = start; step < o.steps; ++step) {
    const double lr = LearningRate(o, step);
    for (auto& group : opt.param_groups())
      static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
    opt.zero_grad();
    double loss_sum = 0;
    for (int64_t micro = 0; micro < o.grad_accum; ++micro) {
      Batch b = packer.Next(o.batch_size);
      torch::Tensor loss;
      if (group) {
        // This rank's rows; its mean loss weighted by its share of the global batch's loss tokens.
        const int64_t rows = o.batch_size / ranks, lo = rank * rows;
        Batch mine;
        mine.ids = b.ids.slice(0, lo, lo + rows);
        mine.targets = b.targets.slice(0, lo, lo + rows);
        mine.mask = b.mask.slice(0, lo, lo + rows);
        mine.positions = b.positions.slice(0, lo, lo + rows);
        mine.doc_ids = b.doc_ids.slice(0, lo, lo + rows);
        const double share = mine.mask.sum().item<double>() /
                             std::max<double>(1.0, static_cast<double>(b.loss_tokens));
        loss = ForwardLoss(model, mine, o.bf16, o.split_documents) *
               (share / static_cast<double>(o.grad_accum));
      } else {
        loss = ForwardLoss(model, b, o.bf16, o.split_documents) / static_cast<double>(o.grad_accum);
      }
      loss.backward();
      loss_sum += loss.item<double>();
    }
    if (group) {
      group->AllReduceGradients(params);
      loss_sum = group->AllReduceSum(loss_sum);
    }
    torch::nn::utils::clip_grad_norm_(params, o.clip);
    opt.step();
    if (digest.is_open()) digest << step + 1 << " " << dist::Digest(params) << "\n" << std::flush;
    last_loss = loss_sum;
    ++window_steps;
    progress.Add(tokens_per_step);
    const bool last = step + 1 == o.steps;
    if (root && ((step + 1) % o.log_every == 0 || last || (step + 1) % o.eval_every == 0)) {
      const double secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - window_start).count();
      json line = {{"step", step + 1},
                   {"loss", loss_sum},
                   {"lr", lr},
                   {"tokens_per_s", secs > 0 ? window_steps * tokens_per_step / secs : 0.0},
                   {"epoch", packer.epoch()}};
      if (group)
        line["allreduce_s_per_step"] =
            group->allreduce_seconds() / std::max<int64_t>(1, group->allreduce_calls());
      if ((step + 1) % o.eval_every == 0 || last) {
        model->eval();
        for (const auto& s : eval_stages) {
          const double l = HeldoutLoss(model, corpus_dir, s, o);
          line["heldout"][s] = l;
          if (last) result.heldout.push_back({s, l});  // the stage's result: not evaluated twice
        }
        model->train();
      }
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.9g", loss_sum);
      line["loss_text"] = buf;  // exact decimal for resume comparisons
      log << line.dump() << "\n" << std::flush;
      window_start = std::chrono::steady_clock::now();
      window_steps = 0;
    }
    if (root && (step + 1) % o.ckpt_every == 0 && !last)
      SaveResumeCheckpoint(model, opt, dir, step + 1,
                           {{"step", step + 1}, {"seed", o.seed}, {"stages", train_stages}}, o);
    if (CrashHere(o, "step", step + 1)) std::_Exit(9);
  }
  progress.Finish();
  model->eval();
  if (result.heldout.empty())  // not the root, or resumed after the last step
    for (const auto& s : eval_stages)
      result.heldout.push_back({s, HeldoutLoss(model, corpus_dir, s, o)});
  result.final_loss = last_loss;
  if (root) {
    // The stage's result beside its weights (before DONE), so a resumed curriculum that skips
    // this finished stage still reports it.
    MakeDirs(dir + "/final");
    WriteFileAtomic(dir + "/final/result.json", StageResultJson(result).dump(1) + "\n");
    SaveFinal(model, dir + "/final", tokenizer_json, o.steps);
  }
  if (group) group->Barrier();  // the other ranks return once the stage's result exists
  return result;
}

static std::vector<StageResult> RunCurriculumOn(const std::string& corpus_dir,
                                                const std::vector<std::string>& stages, bool mixed,
                                                const std::string& out_dir, const std::string& init,
                                                const std::string& model_size,
                                                const TrainOptions& o, bool resume);

std::vector<StageResult> RunCurriculum(const std::string& corpus_dir,
                                       const std::vector<std::string>& stages, bool mixed,
                                       const std::string& out_dir, const std::string& init,
                                       const std::string& model_size, const TrainOptions& o,
                                       bool resume) {
  // A user's data may have nothing for a stage (no general-knowledge documents, say): such a
  // stage, or one too small to hold a document out, is skipped with a warning, not an error.
  std::vector<std::string> usable;
  for (const auto& s : stages) {
    const int64_t docs = ShardReader(corpus_dir, s).num_docs();
    if (docs >= 2)
      usable.push_back(s);
    else
      spdlog::warn("{}: {} document(s) in the corpus, stage skipped (needs at least 2)", s, docs);
  }
  if (usable.empty())
    throw Error("no stage has enough documents to train on", corpus_dir,
                "check the corpus summary");
  return RunCurriculumOn(corpus_dir, usable, mixed, out_dir, init, model_size, o, resume);
}

int64_t WarmItemEmbeddings(Qwen3ForCausalLM& model, const std::string& corpus_dir,
                           const Tokenizer& tok) {
  const std::string path = corpus_dir + "/" + kItemWordsFile;
  if (!FileExists(path)) return 0;
  torch::NoGradGuard no_grad;
  auto emb = model->model->embed_tokens->weight;  // (V, C)
  const int64_t V = emb.size(0);
  std::vector<torch::Tensor> sum(V);
  std::vector<int> count(V, 0);
  std::vector<bool> item_token(V, false);
  std::ifstream in(path);
  std::string line;
  int64_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    json j;
    try {
      j = json::parse(line);
    } catch (const std::exception& e) {
      throw Error(std::string("not JSON: ") + e.what(), path + ":" + std::to_string(line_no),
                  "rebuild the corpus (muchator corpus)");
    }
    std::vector<int64_t> words;
    for (const int t : tok.Encode(j.value("words", std::string())))
      if (t >= 0 && t < V) words.push_back(t);
    for (const int t : j.at("tokens").get<std::vector<int>>()) {
      if (t < 0 || t >= V)
        throw Error("item token " + std::to_string(t) + " is outside the model's vocabulary",
                    path + ":" + std::to_string(line_no), "rebuild the corpus with this tokenizer");
      item_token[t] = true;
      if (words.empty()) continue;
      const auto mean = emb.index_select(0, torch::tensor(words)).mean(0);
      sum[t] = sum[t].defined() ? sum[t] + mean : mean;
      ++count[t];
    }
  }
  std::vector<int64_t> others;
  for (int64_t t = 0; t < V; ++t)
    if (!item_token[t]) others.push_back(t);
  if (others.empty()) return 0;
  const double norm = emb.index_select(0, torch::tensor(others)).norm(2, 1).mean().item<double>();
  int64_t set = 0;
  for (int64_t t = 0; t < V; ++t) {
    if (count[t] == 0) continue;
    const auto v = sum[t] / count[t];
    emb[t].copy_(v * (norm / v.norm().clamp_min(1e-12)));
    ++set;
  }
  return set;
}

static std::vector<StageResult> RunCurriculumOn(const std::string& corpus_dir,
                                                const std::vector<std::string>& stages, bool mixed,
                                                const std::string& out_dir, const std::string& init,
                                                const std::string& model_size,
                                                const TrainOptions& o, bool resume) {
  const std::string tokenizer_json = corpus_dir + "/tokenizer.json";
  const int64_t vocab = Tokenizer::LoadHf(tokenizer_json)->vocab_size();
  torch::manual_seed(o.seed);
  Qwen3ForCausalLM model{nullptr};
  if (!init.empty()) {
    model = LoadModel(init);
    model->ResizeVocab(std::max(vocab, model->config().vocab_size));
  } else {
    ModelConfig c = ModelConfig::Named(model_size);
    c.vocab_size = vocab;
    model = Qwen3ForCausalLM(c);
  }
  spdlog::info("model: {} parameters, vocabulary {}", model->config().NumParameters(),
               model->config().vocab_size);
  std::vector<std::vector<std::string>> plan;
  std::vector<std::string> names;
  if (mixed) {
    plan.push_back(stages);
    names.push_back("mixed");
  } else {
    // Each later stage replays the stages before it beside its own documents (mixed by
    // document). Without replay, on the demo world, stage 1 took the general held-out loss from
    // 1.35 to 7.9, and stage 3 took stage 1's from 1.06 to 5.6 and stage 2's from 1.16 to 4.3:
    // the everyday language and the tag -> song knowledge were gone before SFT.
    for (size_t i = 0; i < stages.size(); ++i) {
      plan.push_back({stages[i]});
      if (o.replay)
        for (size_t j = 0; j < i; ++j) plan.back().push_back(stages[j]);
      names.push_back(stages[i]);
    }
  }
  std::vector<StageResult> results;
  json summary = json::array();
  for (size_t i = 0; i < plan.size(); ++i) {
    if (resume && FileExists(out_dir + "/" + names[i] +
                             "/final/DONE")) {  // finished: continue from its result
      model = LoadModel(out_dir + "/" + names[i] + "/final");
      spdlog::info("{}: already trained, skipped", names[i]);
      const std::string done = out_dir + "/" + names[i] + "/final/result.json";
      if (!FileExists(done)) continue;  // finished by an older version: no result recorded
      results.push_back(StageResultFromJson(json::parse(ReadFile(done)), names[i]));
      summary.push_back(StageResultJson(results.back()));
      continue;
    }
    if (o.warm_items && !mixed && i > 0 && names[i - 1] == "stage0_general") {
      const int64_t n = WarmItemEmbeddings(model, corpus_dir, *Tokenizer::LoadHf(tokenizer_json));
      if (n > 0) spdlog::info("{}: {} item tokens start from their songs' words", names[i], n);
    }
    TrainOptions so = o;
    if (names[i] == "stage0_general" && (o.general_steps > 0 || o.general_lr > 0)) {
      if (o.general_steps > 0) {
        // Warmup and held-out evaluations keep their share of the stage, so the stage is
        // evaluated as often as the others (an evaluation is 4 batches of every stage, ~5 steps'
        // compute; with its period in steps the main job's 4x general stage was evaluated 8
        // times); resume checkpoints keep their period in steps (an interrupted run loses no
        // more work than in the other stages).
        const auto scaled = [&](int64_t every) {
          return std::max<int64_t>(1, every * o.general_steps / std::max<int64_t>(1, o.steps));
        };
        so.warmup_steps = scaled(o.warmup_steps);
        so.eval_every = scaled(o.eval_every);
        so.steps = o.general_steps;
      }
      if (o.general_lr > 0) so.lr = o.general_lr;
    }
    results.push_back(TrainStage(model, corpus_dir, plan[i], stages, out_dir, names[i], so, resume,
                                 tokenizer_json));
    summary.push_back(StageResultJson(results.back()));
  }
  if (!o.group || o.group->root())
    WriteFileAtomic(out_dir + "/pretrain_summary.json", summary.dump(1) + "\n");
  return results;
}

}  // namespace muchator
