// A seeded random number generator with platform-independent streams.
//
// Why not <random>'s distributions: std::uniform_int_distribution, std::normal_distribution and
// friends are implementation-defined, so the same seed gives different numbers under libstdc++
// and libc++. The synthetic world must be byte-identical for a seed, so the few distributions we
// need are written here on top of xoshiro256** (public-domain algorithm by Blackman and Vigna).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace muchator {

class Rng {
 public:
  explicit Rng(uint64_t seed);
  // An independent stream derived from this seed and a label (e.g. "users", 17): the same
  // (seed, label, index) always gives the same stream, whatever else was drawn before.
  static Rng Derive(uint64_t seed, std::string_view label, uint64_t index = 0);

  uint64_t NextU64();
  double Uniform();                       // [0, 1)
  double Uniform(double lo, double hi);   // [lo, hi)
  uint64_t Below(uint64_t n);             // [0, n), unbiased; n > 0
  int64_t Range(int64_t lo, int64_t hi);  // [lo, hi] inclusive
  bool Bernoulli(double p);
  double Normal(double mean = 0.0, double stddev = 1.0);
  double Exponential(double rate);
  // Index drawn with probability proportional to weights (non-negative, sum > 0).
  size_t Categorical(std::span<const double> weights);
  template <class T>
  const T& Pick(const std::vector<T>& v) {
    return v[Below(v.size())];
  }
  template <class T>
  void Shuffle(std::vector<T>& v) {
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[Below(i)]);
  }

 private:
  uint64_t s_[4];
};

// 64-bit FNV-1a of a string, for deriving seeds from labels.
uint64_t HashString(std::string_view s, uint64_t seed = 1469598103934665603ULL);

}  // namespace muchator
