// Anchor translation unit that builds the shared torch precompiled header.
namespace muchator {
int TorchPchAnchor() { return 0; }
}  // namespace muchator
