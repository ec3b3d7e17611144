#include "corpus/shard.h"

#include "core/error.h"

namespace muchator {

using nlohmann::json;

json StageSummary::ToJson() const {
  return {{"stage", stage}, {"docs", docs}, {"tokens", tokens}, {"loss_tokens", loss_tokens}};
}

ShardWriter::ShardWriter(std::string dir, std::string stage, int64_t max_shard_tokens)
    : dir_(std::move(dir)), stage_(std::move(stage)), max_shard_tokens_(max_shard_tokens) {
  summary_.stage = stage_;
  MakeDirs(dir_);
}

ShardWriter::~ShardWriter() = default;  // an unfinished shard's temporary files are removed

void ShardWriter::OpenShard() {
  const std::string base = dir_ + "/" + stage_ + "." + std::to_string(shards_.size());
  tokens_ = std::make_unique<AtomicWriter>(base + ".tokens");
  mask_ = std::make_unique<AtomicWriter>(base + ".mask");
  docs_ = std::make_unique<AtomicWriter>(base + ".docs");
  shard_tokens_ = shard_docs_ = 0;
}

void ShardWriter::CloseShard() {
  tokens_->Commit();
  mask_->Commit();
  docs_->Commit();
  shards_.push_back({{"name", stage_ + "." + std::to_string(shards_.size())},
                     {"tokens", shard_tokens_},
                     {"docs", shard_docs_}});
  tokens_.reset();
  mask_.reset();
  docs_.reset();
}

void ShardWriter::Add(const TokenSeq& doc) {
  if (doc.ids.empty()) return;
  if (!tokens_) OpenShard();
  static_assert(sizeof(int) == sizeof(int32_t));
  docs_->Write(std::string_view(reinterpret_cast<const char*>(&shard_tokens_), sizeof(int64_t)));
  tokens_->Write(std::string_view(reinterpret_cast<const char*>(doc.ids.data()),
                                  doc.ids.size() * sizeof(int32_t)));
  mask_->Write(std::string_view(reinterpret_cast<const char*>(doc.mask.data()), doc.mask.size()));
  shard_tokens_ += static_cast<int64_t>(doc.ids.size());
  ++shard_docs_;
  summary_.docs += 1;
  summary_.tokens += static_cast<int64_t>(doc.ids.size());
  for (uint8_t m : doc.mask) summary_.loss_tokens += m;
  if (shard_tokens_ >= max_shard_tokens_) CloseShard();
}

StageSummary ShardWriter::Finish() {
  if (finished_) throw std::logic_error("ShardWriter::Finish called twice");
  finished_ = true;
  if (tokens_) CloseShard();
  json index = summary_.ToJson();
  index["shards"] = shards_;
  WriteFileAtomic(dir_ + "/" + stage_ + ".index.json", index.dump(1) + "\n");
  return summary_;
}

ShardReader::ShardReader(const std::string& dir, const std::string& stage) {
  const std::string index_path = dir + "/" + stage + ".index.json";
  json index;
  try {
    index = json::parse(ReadFile(index_path));
  } catch (const json::exception& e) {
    throw Error(std::string("corrupt shard index: ") + e.what(), index_path, "rebuild the corpus");
  }
  for (const auto& s : index.at("shards")) {
    const std::string base = dir + "/" + s.at("name").get<std::string>();
    Shard sh{std::make_unique<MappedFile>(base + ".tokens"),
             std::make_unique<MappedFile>(base + ".mask"),
             std::make_unique<MappedFile>(base + ".docs"), s.at("tokens").get<int64_t>(),
             s.at("docs").get<int64_t>()};
    if (sh.tokens->size() != static_cast<size_t>(sh.n_tokens) * 4 ||
        sh.mask->size() != static_cast<size_t>(sh.n_tokens) ||
        sh.docs->size() != static_cast<size_t>(sh.n_docs) * 8)
      throw Error("shard sizes do not match the index", base, "rebuild the corpus");
    for (int64_t d = 0; d < sh.n_docs; ++d)
      doc_shard_.push_back({static_cast<int>(shards_.size()), d});
    total_tokens_ += sh.n_tokens;
    shards_.push_back(std::move(sh));
  }
}

std::pair<int64_t, int64_t> ShardReader::Range(int64_t doc) const {
  const auto [s, d] = doc_shard_.at(doc);
  const Shard& sh = shards_[s];
  const auto* offsets = reinterpret_cast<const int64_t*>(sh.docs->data());
  return {offsets[d], d + 1 < sh.n_docs ? offsets[d + 1] : sh.n_tokens};
}

std::span<const int32_t> ShardReader::Tokens(int64_t doc) const {
  const auto [b, e] = Range(doc);
  const auto* t = reinterpret_cast<const int32_t*>(shards_[doc_shard_[doc].first].tokens->data());
  return {t + b, static_cast<size_t>(e - b)};
}

std::span<const uint8_t> ShardReader::Mask(int64_t doc) const {
  const auto [b, e] = Range(doc);
  const auto* m = reinterpret_cast<const uint8_t*>(shards_[doc_shard_[doc].first].mask->data());
  return {m + b, static_cast<size_t>(e - b)};
}

}  // namespace muchator
