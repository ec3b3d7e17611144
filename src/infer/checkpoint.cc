#include "infer/checkpoint.h"

#include "core/error.h"
#include "core/file.h"

namespace muchator {

Checkpoint LoadCheckpoint(const std::string& dir, const std::string& codec_path) {
  Checkpoint c;
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json"})
    if (!FileExists(dir + "/" + f))
      throw Error(std::string("no ") + f + " in the checkpoint directory", dir,
                  "give a final/ directory written by `muchator pretrain` (or sft, grpo)");
  c.model = LoadModel(dir);
  c.model->eval();
  c.tok = Tokenizer::LoadHf(dir + "/tokenizer.json");
  const std::string codec = codec_path.empty() ? dir + "/codec.json" : codec_path;
  if (!codec_path.empty() && !FileExists(codec))
    throw Error("no such codec file", codec, "give the codec.json of the corpus");
  if (FileExists(codec)) {
    c.catalog = Catalog::FromCodecFile(codec);
    c.codec = LoadItemCodec(codec, c.catalog, *c.tok);
    c.grammar = std::make_unique<AnswerGrammar>(*c.tok, *c.codec, c.catalog);
  }
  return c;
}

}  // namespace muchator
