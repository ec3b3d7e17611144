// The texts a tokenizer is trained on, read from a store: titles, names, lyrics, documents,
// comments, playlist titles, the text of queries outside the test split, and profile values.
#pragma once

#include <functional>
#include <string_view>

namespace muchator {

class Store;

void ForEachTrainingText(Store& store, const std::function<void(std::string_view)>& emit);

}  // namespace muchator
