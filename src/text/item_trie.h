// A prefix trie over the token sequences of every catalog item, for constrained decoding and for
// mapping a token sequence back to its item. Node 0 is the root. Immutable after Build.
#pragma once

#include <span>
#include <vector>

namespace muchator {

class ItemTrie {
 public:
  // sequences[i] is item i's token sequence. Throws Error if two items share a sequence or one
  // sequence is a prefix of another (then an item could never be told apart).
  void Build(const std::vector<std::vector<int>>& sequences);
  // The child of `node` by `token`, or -1.
  int Next(int node, int token) const;
  // Tokens allowed after `node`, ascending.
  std::span<const int> Allowed(int node) const;
  // The item that ends at `node`, or -1.
  int ItemAt(int node) const { return nodes_[node].item; }
  // The item whose whole sequence is `ids`, or -1.
  int Find(std::span<const int> ids) const;
  size_t num_nodes() const { return nodes_.size(); }
  // Leaves (items) numbered in depth-first, token-ascending order: the items below `node` are
  // exactly the leaves [LeafBegin(node), LeafEnd(node)). Constrained decoding uses this to tell
  // in O(log banned) whether a branch still holds an item that is not banned.
  int LeafBegin(int node) const { return nodes_[node].leaf_begin; }
  int LeafEnd(int node) const { return nodes_[node].leaf_end; }
  int LeafOf(int item) const { return leaf_of_[item]; }
  int num_items() const { return static_cast<int>(leaf_of_.size()); }

 private:
  struct Node {
    std::vector<int> tokens, children;  // parallel, sorted by token
    int item = -1;
    int leaf_begin = 0, leaf_end = 0;
  };
  std::vector<Node> nodes_;
  std::vector<int> leaf_of_;  // item -> leaf number
};

}  // namespace muchator
