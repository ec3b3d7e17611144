// The LM trainer for every pre-training stage (and later SFT): AdamW, warmup + cosine schedule,
// gradient clipping and accumulation, optional bf16 autocast, packed sequences with loss masks,
// periodic held-out loss on every stage, JSON-lines log, and checkpoints that resume exactly.
//
// Layout of a stage directory OUT/<stage>/:
//   log.jsonl                     one line per logged step
//   latest                        name of the newest complete resume checkpoint
//   ckpt-<step>/                  config.json, model.safetensors, optimizer.pt, trainer_state.json
//   final/                        config.json, model.safetensors, tokenizer.json (the stage's
//   result)
// A checkpoint is written into ckpt-<step>.tmp/ and renamed when complete, then `latest` is
// replaced atomically: a kill at any moment leaves the previous checkpoint usable.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "dist/dist.h"
#include "model/qwen3.h"

namespace muchator {

struct TrainOptions {
  int64_t steps = 200;  // optimizer steps for the stage
  int64_t seq_len = 256;
  int64_t batch_size = 8;  // rows per micro-batch
  int64_t grad_accum = 1;  // micro-batches per optimizer step
  double lr = 1e-3, min_lr_ratio = 0.1;
  int64_t warmup_steps = 20;
  double weight_decay = 0.1, clip = 1.0, beta1 = 0.9, beta2 = 0.95;
  bool bf16 = false;
  int64_t log_every = 10, eval_every = 50, eval_batches = 4, ckpt_every = 50;
  // Packer::set_whole_documents: a document that fits in a row is never cut (SFT: an answer
  // always keeps its prompt).
  bool whole_documents = false;
  // Each micro-batch is trained with one document per row where that computes less
  // (SplitDocuments, train/packer.h): the same loss up to float rounding, without the attention
  // scores between documents that the packed rows mask away.
  bool split_documents = true;
  // RunCurriculum: every stage also trains on the documents of the stages before it (replay
  // against forgetting; the packer mixes them by document).
  bool replay = true;
  // RunCurriculum: before the first stage after stage0_general, start the item tokens'
  // embeddings from their songs' describing words (WarmItemEmbeddings).
  bool warm_items = true;
  // RunCurriculum: steps and peak lr of stage0_general when > 0 (else `steps` and `lr`). The
  // everyday-language stage teaches associations (a form -> its concept), which a from-scratch
  // model learns late: on the demo world 200 steps at 1e-3 left the paraphrase cloze at chance
  // (0.28) and 400 at 3e-3 reached 0.69 (docs/model.md).
  int64_t general_steps = 0;
  double general_lr = 0;
  uint64_t seed = 1;
  // Test hook (also reachable as MUCHATOR_CRASH_AT=step:N or ckpt:N): _Exit(9) right after step N,
  // or half-way through writing the checkpoint of step N, to simulate kill -9.
  std::string crash_at;
  // Data-parallel training (dist/dist.h): each rank trains rows [rank*B/W, (rank+1)*B/W) of every
  // global micro-batch of batch_size rows, gradients are summed with one allreduce per step
  // (each rank's loss weighted by its share of the batch's loss tokens, so W ranks compute the
  // gradient one process would), rank 0 broadcasts the initial weights and alone writes logs and
  // checkpoints. Null = one process.
  std::shared_ptr<dist::Group> group;
};

// The main job's everyday-language steps (`pipeline --general-steps`, also read by `ablate`):
// `general_steps` when > 0, else four times the steps of each later stage. Twice was the default
// until 2026-12-05; four times lifted the Jamendo-catalog world's test relevance@10 of the SFT
// model on seeds 2 and 3 from 0.26 / 0.34 to 0.53 / 0.78, whose test requests are worded in
// everyday forms that only the general documents teach (docs/world.md).
inline int64_t MainJobGeneralSteps(int64_t general_steps, int64_t pretrain_steps) {
  return general_steps > 0 ? general_steps : 4 * pretrain_steps;
}

// Learning rate at `step` (0-based): linear warmup to lr, then cosine down to lr * min_lr_ratio.
double LearningRate(const TrainOptions& o, int64_t step);

// Mean cross-entropy over the positions where mask is 1 (0 if there are none).
// logits: (B, T, V); targets: (B, T) int64; mask: (B, T) float.
torch::Tensor MaskedCrossEntropy(const torch::Tensor& logits, const torch::Tensor& targets,
                                 const torch::Tensor& mask);
// The training loss of a batch: fp32 forward + MaskedCrossEntropy, or with `bf16` the forward
// under bf16 autocast and the LM head fused with the loss (train/fused_loss.h).
torch::Tensor LanguageModelLoss(Qwen3ForCausalLM& model, const torch::Tensor& ids,
                                const torch::Tensor& positions, const torch::Tensor& doc_ids,
                                const torch::Tensor& targets, const torch::Tensor& mask, bool bf16);

struct StageResult {
  std::string stage;
  int64_t steps = 0;
  double final_loss = 0;
  std::vector<std::pair<std::string, double>> heldout;  // stage -> held-out loss at the end
};

// Trains `model` on `train_stages` of the corpus for o.steps steps into out_dir/name/. When
// `resume` and a checkpoint exists there, continues from it (weights, optimizer, data position).
// `eval_stages` are evaluated for held-out loss. Copies `tokenizer_json` into final/.
StageResult TrainStage(Qwen3ForCausalLM& model, const std::string& corpus_dir,
                       const std::vector<std::string>& train_stages,
                       const std::vector<std::string>& eval_stages, const std::string& out_dir,
                       const std::string& name, const TrainOptions& o, bool resume,
                       const std::string& tokenizer_json);

// Sets the embedding of every item-only codec token listed in corpus_dir/item_words.jsonl
// (corpus/builders.h) to the mean embedding of the words of the songs it codes (the words'
// tokens averaged per song, then the songs averaged per token), scaled to the mean norm of the
// other tokens' embeddings. A new token's embedding is otherwise random and, tied to the LM head,
// learns only from the few times its song is named: OpenOneRec and LC-Rec align item tokens with
// their text before recommendation tuning. Returns the number of tokens set (0 without the file).
class Tokenizer;
int64_t WarmItemEmbeddings(Qwen3ForCausalLM& model, const std::string& corpus_dir,
                           const Tokenizer& tok);

// The curriculum: a model (from `init` if given, else a fresh `model_size` one sized to the corpus
// tokenizer) trained on `stages` (corpus stage names) in order, each starting from the previous
// stage's weights, or on all of them shuffled together when `mixed` (one phase named "mixed").
// With `resume`, finished stages are skipped and an interrupted one continues. Writes
// out_dir/pretrain_summary.json and returns one result per phase.
std::vector<StageResult> RunCurriculum(const std::string& corpus_dir,
                                       const std::vector<std::string>& stages, bool mixed,
                                       const std::string& out_dir, const std::string& init,
                                       const std::string& model_size, const TrainOptions& o,
                                       bool resume);

// Building blocks shared by the trainers that keep resume checkpoints in a directory (TrainStage,
// GRPO): AdamW with weight decay on matrices only; the crash test hook; dir/ckpt-<step>/ written
// atomically (weights, optimizer.pt, `state` as trainer_state.json), dir/latest pointed at it and
// the checkpoints older than the previous one removed.
torch::optim::AdamW MakeOptimizer(Qwen3ForCausalLM& model, const TrainOptions& o);
bool CrashHere(const TrainOptions& o, const std::string& kind, int64_t step);
void SaveResumeCheckpoint(Qwen3ForCausalLM& model, torch::optim::AdamW& opt, const std::string& dir,
                          int64_t step, const nlohmann::json& state, const TrainOptions& o);
// When dir/latest names a checkpoint: loads its weights into `model` and its optimizer state into
// `opt`, cuts dir/log.jsonl back to its step and returns its trainer_state.json ("step" and what
// the trainer saved). Otherwise empties the log and returns null. Removes half-written checkpoints.
nlohmann::json ResumeFromLatest(Qwen3ForCausalLM& model, torch::optim::AdamW& opt,
                                const std::string& dir);
// The stage's result directory: weights, tokenizer.json and the codec.json beside it (when
// `tokenizer_json` is given), and DONE holding the step count.
void SaveFinal(Qwen3ForCausalLM& model, const std::string& dir, const std::string& tokenizer_json,
               int64_t steps);

// Weight-space averaging of checkpoints trained from one start (model soups, Wortsman et al.
// 2022; WiSE-FT): every tensor becomes init + a x (mean over `runs` - init). a = 1 is the runs'
// plain average, a < 1 moves back towards `init_dir`. Writes `out_dir` as SaveFinal does
// (tokenizer and codec from runs[0]; DONE holding `steps`). Throws Error when a run's tensors do
// not match the start's names and shapes.
void MergeCheckpoints(const std::string& init_dir, const std::vector<std::string>& runs, double a,
                      const std::string& out_dir, int64_t steps);

// Held-out loss of `model` on the held-out documents of `stage` (deterministic batches).
double HeldoutLoss(Qwen3ForCausalLM& model, const std::string& corpus_dir, const std::string& stage,
                   const TrainOptions& o);

}  // namespace muchator
