// A checkpoint directory loaded for generation: config.json + model.safetensors (the model),
// tokenizer.json, and codec.json (the item codec with the catalog's ids, titles and artists).
#pragma once

#include <memory>
#include <string>

#include "infer/constraint.h"
#include "model/qwen3.h"
#include "text/item_codec.h"
#include "text/tokenizer.h"

namespace muchator {

struct Checkpoint {
  Qwen3ForCausalLM model{nullptr};
  std::unique_ptr<Tokenizer> tok;
  Catalog catalog;                         // empty without a codec
  std::unique_ptr<ItemCodec> codec;        // null without a codec
  std::unique_ptr<AnswerGrammar> grammar;  // null without a codec
};

// Loads DIR. `codec_path` empty = DIR/codec.json when present (without it only unconstrained
// generation is possible). Throws Error naming the missing or inconsistent file.
Checkpoint LoadCheckpoint(const std::string& dir, const std::string& codec_path = "");

}  // namespace muchator
