#include "tiny_world.h"

#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>

#include "data/ingest.h"
#include "model/qwen3.h"
#include "text/bpe_train.h"
#include "text/item_codec.h"
#include "text/special_tokens.h"
#include "text/training_text.h"
#include "world/generate.h"

namespace muchator::testing {

namespace fs = std::filesystem;

TinyWorld::TinyWorld(const std::string& label, uint64_t seed) {
  dir = (fs::temp_directory_path() / ("muchator_" + label + "_" + std::to_string(::getpid())))
            .string();
  fs::remove_all(dir);
  auto config = world::WorldConfig::ForSize("tiny");
  config.seed = seed;
  world::Generate(config, dir + "/w");
  Ingest({dir + "/w", dir + "/s.db", "", true});
  oracle = std::make_unique<world::Oracle>(world::Oracle::Load(dir + "/w"));
  store = std::make_unique<Store>(dir + "/s.db");
}

TinyWorld::~TinyWorld() {
  store.reset();
  fs::remove_all(dir);
}

std::string TinyWorld::MakeCheckpoint(const std::string& name, uint64_t model_seed,
                                      const std::string& codec_name) const {
  const Catalog catalog = Catalog::FromStore(*store);
  BpeTrainOptions bo;
  bo.vocab_size = 1200;
  bo.special_tokens = BaseSpecialTokens();
  auto tok = TrainBpe([&](const auto& emit) { ForEachTrainingText(*store, emit); }, bo);
  auto codec = MakeItemCodec(codec_name, catalog, *tok);
  const std::string out = dir + "/" + name;
  fs::create_directories(out);
  tok->SaveHf(out + "/tokenizer.json");
  SaveItemCodec(*codec, catalog, out + "/codec.json");
  torch::manual_seed(model_seed);
  ModelConfig mc = ModelConfig::Named("tiny");
  mc.vocab_size = tok->vocab_size();
  Qwen3ForCausalLM model(mc);
  SaveModel(model, out);
  return out;
}

}  // namespace muchator::testing
