// Context-aware instruction tuning (the paper's section 3.3.2): the UQ2I triplets in the chat
// template - the listener's context (profile, the events before the anchor, the state) and the
// query as the prompt, the ranked 10-song list as the answer - with the loss only on the answer
// (L_SFT; the list's order is the target's order). The generation check of the tuned model is
// eval/generation.h.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "infer/checkpoint.h"
#include "reward/requests.h"
#include "text/chat.h"
#include "train/trainer.h"

namespace muchator {

class Store;
namespace world {
class Oracle;
}

struct SftOptions {
  TrainOptions train = [] {
    TrainOptions t;
    t.steps = 100;
    t.seq_len = 512;  // whole documents: a demo prompt (10 events) ~130 tokens, the answer ~75
    t.batch_size = 8;
    // 3e-3: on the demo world (450 steps, ~1.5 epochs) the SFT loss went 1.10 -> 0.73 where 1e-3
    // for 300 steps stayed at ~1.05 (songs near uniform); docs/uq2i.md.
    t.lr = 3e-3;
    t.warmup_steps = 10;
    t.eval_every = t.ckpt_every = t.steps;
    t.whole_documents = true;  // an answer cut from its prompt teaches the same list to everyone
    return t;
  }();
  int history = kPromptHistory;  // events in the prompt
  int64_t max_examples = 0;      // 0 = every triplet
  int heldout_users_percent =
      5;  // triplets of these users (by a hash of the id) are not trained on
  // A pre-training corpus directory whose stage0_general documents SFT also trains on (mixed
  // by document, as the curriculum replays earlier stages); "" = none. Without it, tuning on
  // requests that use only query-train forms wore the everyday language away, and with it the
  // link from a test request's wording to its concept (docs/uq2i.md).
  std::string replay_corpus;
  // Additions to each training prompt (the RAG system's retrieved candidates); unset = none.
  std::function<PromptExtras(const EvalRequest&)> extras;
};

// Writes the triplets (JSONL from synth-uq2i) as the "sft" corpus stage into `corpus_dir`
// (with the checkpoint's tokenizer.json and codec.json); the triplets of held-out users go to
// `corpus_dir`/sft_heldout.jsonl instead (held-out (user, query) pairs for the generation
// check). Returns the number of training documents.
int64_t BuildSftCorpus(Store& store, const Checkpoint& ck, const std::string& ckpt_dir,
                       const std::string& triplets, const std::string& corpus_dir,
                       const SftOptions& o);

}  // namespace muchator
