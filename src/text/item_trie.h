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

 private:
  struct Node {
    std::vector<int> tokens, children;  // parallel, sorted by token
    int item = -1;
  };
  std::vector<Node> nodes_;
};

}  // namespace muchator
