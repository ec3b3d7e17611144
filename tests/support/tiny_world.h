// Test support: a tiny synthetic world ingested into a store, and an untuned checkpoint for it
// (a tokenizer trained on the store's texts, the title item codec, a random tiny model) - what
// the SFT, GRPO and evaluation tests start from. Files live under a per-process temp directory.
#pragma once

#include <memory>
#include <string>

#include "data/store.h"
#include "world/oracle.h"

namespace muchator::testing {

struct TinyWorld {
  std::string dir;  // removed by the destructor
  std::unique_ptr<world::Oracle> oracle;
  std::unique_ptr<Store> store;
  explicit TinyWorld(const std::string& label, uint64_t seed);
  ~TinyWorld();
  // Writes DIR (config.json, model.safetensors, tokenizer.json, codec.json) with a random tiny
  // model seeded by `model_seed` and the item codec `codec`; returns DIR.
  std::string MakeCheckpoint(const std::string& name, uint64_t model_seed,
                             const std::string& codec = "title") const;
};

}  // namespace muchator::testing
