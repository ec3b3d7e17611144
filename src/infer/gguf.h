// GGUF export (docs/gguf.md): a checkpoint directory (config.json, model.safetensors,
// tokenizer.json) as one GGUF v3 file that llama.cpp and what is built on it (ollama, LM Studio,
// node-llama-cpp) load as a "qwen3" model: the architecture keys, the tensors under llama.cpp's
// names, the byte-level BPE tokenizer (tokens, types, merges, special and item tokens) and a
// ChatML chat template.
//
// Written here rather than taken from a library: Debian packages no GGUF writer for C++ (ggml's
// gguf API is not packaged), and the format is a small, fixed layout
// (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md). The reader exists for the tests
// and `muchator export-gguf --inspect`; it bounds every length it reads, so a truncated or hostile
// file is an Error, never a crash.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "infer/gguf_read.h"

namespace muchator {

// Storage of the matrices (norm weights and other 1-D tensors stay f32): f32, f16, bf16, or
// q8_0 (blocks of 32 weights: one f16 scale, 32 int8; a matrix whose rows are not a multiple of
// 32 is written f16).
enum class GgufType { kF32, kF16, kBF16, kQ8_0 };
// "f32", "f16", "bf16", "q8_0"; throws Error for any other name.
GgufType ParseGgufType(const std::string& name);
const char* GgufTypeName(GgufType t);

struct GgufExportStats {
  int64_t tensors = 0;
  int64_t parameters = 0;
  int64_t bytes = 0;  // the file's size
  int64_t vocab = 0;
};

// Writes `out` (atomically: a temporary file renamed into place) from the checkpoint directory.
// Throws Error naming the file and what is unsupported (a tokenizer whose pre-tokenizer
// llama.cpp does not know, a config that is not qwen3).
GgufExportStats ExportGguf(const std::string& checkpoint_dir, const std::string& out,
                           GgufType type);

// The ChatML template written as tokenizer.chat_template (Jinja, the form llama.cpp and
// node-llama-cpp read): user turns get the <|query|> marker unless they carry their own
// template markers, so a plain chat message is a cold-start request.
const std::string& GgufChatTemplate();

// A GBNF grammar (llama.cpp's grammar format) of muchator's constrained answer for the
// checkpoint in `checkpoint_dir` (its codec.json): an optional one-line sentence, then `items`
// numbered catalog songs, each written as its exact item tokens (`<[id]>`, token ids of this
// checkpoint's vocabulary), one per line; llama.cpp ends the answer with <|im_end|> once the
// grammar is complete. Unlike muchator's own constraint it cannot forbid a song listed twice or a
// second song of one artist (GBNF has no memory of earlier choices). Throws Error without a
// codec.json.
std::string CatalogGbnf(const std::string& checkpoint_dir, int items);

// The tensor `name` of `path` as f32 (dequantized), shaped like the checkpoint's tensor
// (dims reversed: rows first).
torch::Tensor ReadGgufTensor(const std::string& path, const GgufFile& f, const std::string& name);

}  // namespace muchator
