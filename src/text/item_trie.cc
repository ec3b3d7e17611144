#include "text/item_trie.h"

#include <algorithm>
#include <string>

#include "core/error.h"

namespace muchator {

void ItemTrie::Build(const std::vector<std::vector<int>>& sequences) {
  nodes_.assign(1, Node{});
  for (size_t i = 0; i < sequences.size(); ++i) {
    if (sequences[i].empty())
      throw Error("item " + std::to_string(i) + " has an empty token sequence");
    int node = 0;
    for (int t : sequences[i]) {
      if (nodes_[node].item >= 0)
        throw Error("item " + std::to_string(nodes_[node].item) +
                    "'s sequence is a prefix of item " + std::to_string(i) + "'s");
      auto& n = nodes_[node];
      auto it = std::lower_bound(n.tokens.begin(), n.tokens.end(), t);
      const size_t k = it - n.tokens.begin();
      if (it != n.tokens.end() && *it == t) {
        node = n.children[k];
      } else {
        const int child = static_cast<int>(nodes_.size());
        nodes_[node].tokens.insert(nodes_[node].tokens.begin() + k, t);
        nodes_[node].children.insert(nodes_[node].children.begin() + k, child);
        nodes_.push_back(Node{});
        node = child;
      }
    }
    if (nodes_[node].item >= 0)
      throw Error("items " + std::to_string(nodes_[node].item) + " and " + std::to_string(i) +
                  " have the same token sequence");
    if (!nodes_[node].tokens.empty())
      throw Error("item " + std::to_string(i) + "'s sequence is a prefix of another item's");
    nodes_[node].item = static_cast<int>(i);
  }
  // Number the leaves depth-first (iteratively: a deep trie must not overflow the stack).
  leaf_of_.assign(sequences.size(), -1);
  int next_leaf = 0;
  std::vector<std::pair<int, size_t>> stack = {{0, 0}};  // (node, next child)
  nodes_[0].leaf_begin = 0;
  while (!stack.empty()) {
    auto& [node, k] = stack.back();
    Node& n = nodes_[node];
    if (k == 0 && n.item >= 0) leaf_of_[n.item] = next_leaf++;
    if (k < n.children.size()) {
      const int child = n.children[k++];
      nodes_[child].leaf_begin = next_leaf;
      stack.emplace_back(child, 0);
    } else {
      n.leaf_end = next_leaf;
      stack.pop_back();
    }
  }
}

int ItemTrie::Next(int node, int token) const {
  const auto& n = nodes_[node];
  auto it = std::lower_bound(n.tokens.begin(), n.tokens.end(), token);
  return it != n.tokens.end() && *it == token ? n.children[it - n.tokens.begin()] : -1;
}

std::span<const int> ItemTrie::Allowed(int node) const { return nodes_[node].tokens; }

int ItemTrie::Find(std::span<const int> ids) const {
  int node = 0;
  for (int t : ids) {
    node = Next(node, t);
    if (node < 0) return -1;
  }
  return ItemAt(node);
}

}  // namespace muchator
