// The engine's kernels against plain loops, at the awkward sizes the engine meets: 1-9 rows,
// widths that are not multiples of the panel (32) or vector (16) width, a single position.
// (infer_test checks them again through whole-model logits.)
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "core/cpu.h"
#include "infer/attention.h"
#include "infer/linear.h"
#include "infer/norm_rope.h"
#include "infer/prefix_cache.h"
#include "infer/simd.h"

namespace muchator {
namespace {

using kernels::AttendOverCache;
using kernels::CacheLayer;
using kernels::SharedPrefix;

float Bf16Round(float f) {
  const uint32_t bits = kernels::Bf16Bits(f) << 16;
  return __builtin_bit_cast(float, bits);
}

// Largest |a - b| over the elements, relative to the largest |b| (at least 1).
double RelErr(const torch::Tensor& a, const torch::Tensor& b) {
  const double scale = std::max(1.0, b.abs().max().item<double>());
  return (a - b).abs().max().item<double>() / scale;
}

TEST(LinearKernelTest, Fp32PanelsMatchALoopAtOddSizes) {
  torch::manual_seed(1);
  for (int64_t out : {1, 5, 31, 33, 65})
    for (int64_t in : {1, 7, 33, 70})
      for (int64_t rows = 1; rows <= 9; ++rows) {
        const auto w = torch::randn({out, in}), x = torch::randn({rows, in});
        const auto lw = kernels::MakeLinear(w, 0);  // fp32 only
        auto ref = torch::zeros({rows, out}, torch::kFloat64);
        auto xd = x.to(torch::kFloat64), wd = w.to(torch::kFloat64);
        auto xa = xd.accessor<double, 2>(), wa = wd.accessor<double, 2>();
        auto ra = ref.accessor<double, 2>();
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t o = 0; o < out; ++o)
            for (int64_t i = 0; i < in; ++i) ra[r][o] += xa[r][i] * wa[o][i];
        const auto y = kernels::Linear(x, lw, false);
        ASSERT_EQ(y.sizes(), (torch::IntArrayRef{rows, out}));
        EXPECT_LT(RelErr(y.to(torch::kFloat64), ref), 1e-5) << rows << "x" << in << " -> " << out;
        // Adding in place: y0 + x w^T.
        auto acc = torch::ones({rows, out});
        kernels::LinearInto(x, lw, false, acc, true);
        EXPECT_LT(RelErr(acc.to(torch::kFloat64), ref + 1), 1e-5) << rows << "x" << in;
      }
}

TEST(LinearKernelTest, Bf16PanelsMatchALoopOnRoundedOperands) {
  if (!CpuHasAvx512Bf16()) GTEST_SKIP() << "no AVX512-BF16 on this CPU";
  torch::manual_seed(2);
  for (int64_t out : {1, 33, 70})
    for (int64_t in : {1, 7, 33, 64})
      for (int64_t rows : {1, 2, 5, 9}) {
        const auto w = torch::randn({out, in}), x = torch::randn({rows, in});
        const auto lw = kernels::MakeLinear(w, 1);  // every forward in bf16: the panels
        ASSERT_TRUE(lw.panels16.defined());
        ASSERT_FALSE(lw.panels.defined());  // no fp32 copy is packed
        // Both operands rounded to bf16, products summed exactly: only the fp32 sum differs.
        auto ref = torch::zeros({rows, out}, torch::kFloat64);
        auto xa = x.accessor<float, 2>(), wa = w.accessor<float, 2>();
        auto ra = ref.accessor<double, 2>();
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t o = 0; o < out; ++o)
            for (int64_t i = 0; i < in; ++i)
              ra[r][o] += double(Bf16Round(xa[r][i])) * double(Bf16Round(wa[o][i]));
        const auto y = kernels::Linear(x, lw, true);
        EXPECT_LT(RelErr(y.to(torch::kFloat64), ref), 1e-5) << rows << "x" << in << " -> " << out;
      }
  // An engine whose weights were packed for bf16 only refuses an fp32 product clearly.
  const auto lw = kernels::MakeLinear(torch::randn({4, 4}), 1);
  EXPECT_THROW(kernels::Linear(torch::randn({1, 4}), lw, false), std::exception);
}

TEST(NormKernelTest, SwiGluAndRmsMatchLoops) {
  torch::manual_seed(3);
  for (int64_t rows = 1; rows <= 9; ++rows)
    for (int64_t n : {1, 7, 33}) {
      const auto gu = torch::randn({rows, 2 * n}) * 4;
      const auto g = gu.narrow(1, 0, n).to(torch::kFloat64),
                 u = gu.narrow(1, n, n).to(torch::kFloat64);
      const auto ref = g / (1 + torch::exp(-g)) * u;
      EXPECT_LT(RelErr(kernels::SwiGlu(gu, n).to(torch::kFloat64), ref), 1e-5) << rows << " " << n;

      const auto x = torch::randn({rows, n}), w = torch::randn({n});
      const auto xd = x.to(torch::kFloat64);
      const auto rms_ref =
          xd * torch::rsqrt(xd.pow(2).mean({1}, true) + 1e-6) * w.to(torch::kFloat64);
      EXPECT_LT(RelErr(kernels::Rms(x, w, 1e-6).to(torch::kFloat64), rms_ref), 1e-5);
    }
}

TEST(NormKernelTest, QkNormRopeMatchesNormThenRotateHalf) {
  torch::manual_seed(4);
  const int64_t H = 3, KV = 1, P = 16;
  for (int64_t D : {2, 6, 16})
    for (int64_t T : {1, 2, 5}) {
      const auto qkv = torch::randn({T, (H + 2 * KV) * D});
      const auto qn = torch::randn({D}), kn = torch::randn({D});
      const auto ang = torch::rand({P, D}) * 6;
      const auto cos = torch::cos(ang), sin = torch::sin(ang);
      std::vector<int64_t> pos(T);
      for (int64_t t = 0; t < T; ++t) pos[t] = (7 * t + 3) % P;
      const auto [q, k] = kernels::QkNormRope(qkv, qn, kn, cos, sin, pos, H, KV, D, 1e-6);
      ASSERT_EQ(q.sizes(), (torch::IntArrayRef{T, H, D}));
      ASSERT_EQ(k.sizes(), (torch::IntArrayRef{T, KV, D}));
      for (int64_t t = 0; t < T; ++t)
        for (int64_t h = 0; h < H + KV; ++h) {
          const auto a = qkv[t].narrow(0, h * D, D).to(torch::kFloat64);
          const auto wn = (h < H ? qn : kn).to(torch::kFloat64);
          const auto nrm = a * torch::rsqrt(a.pow(2).mean() + 1e-6) * wn;
          const auto rot = torch::cat({-nrm.narrow(0, D / 2, D / 2), nrm.narrow(0, 0, D / 2)});
          const auto ref =
              nrm * cos[pos[t]].to(torch::kFloat64) + rot * sin[pos[t]].to(torch::kFloat64);
          const auto got = h < H ? q[t][h] : k[t][h - H];
          EXPECT_LT(RelErr(got.to(torch::kFloat64), ref), 1e-5)
              << "D " << D << " t " << t << " h " << h;
        }
    }
}

// A cache of `slots` slots for one layer: keys and values (slot, KV, ld, D) in fp32, and the
// engine's layouts of them (fp32: keys transposed; bf16: pairs, see CacheLayer).
struct TestCache {
  int64_t slots, KV, ld, D;
  torch::Tensor k, v;  // (slots, KV, ld, D)
  std::vector<float> kt, vf;
  std::vector<uint16_t> k2, v2;
  TestCache(int64_t slots_, int64_t KV_, int64_t ld_, int64_t D_)
      : slots(slots_), KV(KV_), ld(ld_), D(D_) {
    k = torch::randn({slots, KV, ld, D});
    v = torch::randn({slots, KV, ld, D});
  }
  CacheLayer Fp32() {
    kt.assign(slots * KV * D * ld, 0);
    vf.assign(v.data_ptr<float>(), v.data_ptr<float>() + v.numel());
    auto ka = k.accessor<float, 4>();
    for (int64_t s = 0; s < slots; ++s)
      for (int64_t h = 0; h < KV; ++h)
        for (int64_t p = 0; p < ld; ++p)
          for (int64_t d = 0; d < D; ++d) kt[((s * KV + h) * D + d) * ld + p] = ka[s][h][p][d];
    CacheLayer c;
    c.k = kt.data(), c.v = vf.data(), c.ld = ld;
    return c;
  }
  CacheLayer Bf16() {  // the engine's writes (Engine::Forward)
    const int64_t ld2 = (ld + 1) / 2;
    k2.assign(slots * KV * (D / 2) * ld * 2, 0);
    v2.assign(slots * KV * ld2 * D * 2, 0);
    auto ka = k.accessor<float, 4>(), va = v.accessor<float, 4>();
    for (int64_t s = 0; s < slots; ++s)
      for (int64_t h = 0; h < KV; ++h) {
        const int64_t block = s * KV + h;
        for (int64_t p = 0; p < ld; ++p)
          for (int64_t d = 0; d < D; ++d) {
            k2[((block * (D / 2) + d / 2) * ld + p) * 2 + (d & 1)] =
                kernels::Bf16Bits(ka[s][h][p][d]);
            v2[((block * ld2 + p / 2) * D + d) * 2 + (p & 1)] = kernels::Bf16Bits(va[s][h][p][d]);
          }
      }
    CacheLayer c;
    c.k2 = reinterpret_cast<const uint32_t*>(k2.data());
    c.v2 = reinterpret_cast<const uint32_t*>(v2.data());
    c.ld = ld;
    return c;
  }
};

// softmax(q k[0, n)^T) v[0, n) per query row, in double (operands rounded to bf16 with `bf16`).
torch::Tensor NaiveAttention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                             const std::vector<int64_t>& limit, const std::vector<int>& slots,
                             int64_t R, bool bf16) {
  auto rnd = [&](const torch::Tensor& t) {
    return bf16 ? t.to(torch::kBFloat16).to(torch::kFloat64) : t.to(torch::kFloat64);
  };
  const int64_t B = static_cast<int64_t>(slots.size()), KV = k.size(1), D = k.size(3);
  auto out = torch::zeros({B, KV, R, D}, torch::kFloat64);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < KV; ++h)
      for (int64_t r = 0; r < R; ++r) {
        const int64_t n = limit[b * R + r];
        const auto s = torch::mv(rnd(k[slots[b]][h].narrow(0, 0, n)), rnd(q[b][h][r]));
        out[b][h][r] = torch::mv(rnd(v[slots[b]][h].narrow(0, 0, n)).t(), torch::softmax(s, 0));
      }
  return out;
}

TEST(AttentionKernelTest, Fp32CacheMatchesSoftmaxAttentionAtOddSizes) {
  torch::manual_seed(5);
  const int64_t KV = 2, ld = 48;
  for (int64_t D : {12, 16, 48})  // 12: the one-row path; 16 and 48: four rows at a time
    for (int64_t R : {1, 3, 5, 9}) {
      TestCache cache(3, KV, ld, D);
      const std::vector<int> slots = {2, 0};
      std::vector<int64_t> limit(2 * R);
      for (int64_t i = 0; i < 2 * R; ++i) limit[i] = i == 0 ? 1 : 1 + (i * 17) % ld;  // T = 1 too
      const auto q = torch::randn({2, KV, R, D});
      auto out = torch::empty({2, KV, R, D});
      AttendOverCache(q.data_ptr<float>(), R, limit, slots, {}, KV, D, ld, cache.Fp32(),
                      out.data_ptr<float>());
      EXPECT_LT(RelErr(out.to(torch::kFloat64),
                       NaiveAttention(q, cache.k, cache.v, limit, slots, R, false)),
                1e-5)
          << "D " << D << " R " << R;
    }
}

TEST(AttentionKernelTest, SharedPrefixGivesTheSameOutputsAsSeparateReads) {
  torch::manual_seed(6);
  // D = 32: the bf16 cache needs head_dim a multiple of 32 (Engine::kv_cache_bf16).
  const int64_t KV = 2, D = 32, ld = 80, len = kernels::kMinSharedPrefix + 5, R = 3;
  TestCache cache(4, KV, ld, D);
  // Slots 1 and 3 hold the same first `len` positions (copied from one prefix-cache entry).
  cache.k[3].narrow(1, 0, len).copy_(cache.k[1].narrow(1, 0, len));
  cache.v[3].narrow(1, 0, len).copy_(cache.v[1].narrow(1, 0, len));
  const std::vector<int> slots = {1, 0, 3};
  std::vector<int64_t> limit = {len + 1, len + 2, len + 9, 4, 20, 77, len, len + 30, 79};
  const auto q = torch::randn({3, KV, R, D});
  SharedPrefix sp;
  sp.len = len, sp.members = {0, 2};
  for (bool bf16 : {false, true}) {
    if (bf16 && !CpuHasAvx512Bf16()) continue;
    const CacheLayer c = bf16 ? cache.Bf16() : cache.Fp32();
    auto alone = torch::empty({3, KV, R, D}), together = torch::empty({3, KV, R, D});
    AttendOverCache(q.data_ptr<float>(), R, limit, slots, {}, KV, D, ld, c,
                    alone.data_ptr<float>());
    AttendOverCache(q.data_ptr<float>(), R, limit, slots, {sp}, KV, D, ld, c,
                    together.data_ptr<float>());
    // (In bf16 each part's softmax weights are rounded on their own: not bit-identical.)
    EXPECT_LT(RelErr(together, alone), bf16 ? 1e-3 : 1e-5) << "bf16 " << bf16;
    EXPECT_LT(RelErr(together.to(torch::kFloat64),
                     NaiveAttention(q, cache.k, cache.v, limit, slots, R, bf16)),
              bf16 ? 2e-2 : 1e-5);
  }
}

TEST(AttentionKernelTest, Bf16CacheMatchesSoftmaxAttentionOnRoundedOperands) {
  if (!CpuHasAvx512Bf16()) GTEST_SKIP() << "no AVX512-BF16 on this CPU";
  torch::manual_seed(7);
  const int64_t KV = 1, ld = 45;  // odd: the last value pair holds one position
  for (int64_t D : {32, 64})
    for (int64_t R : {1, 2, 5, 9}) {
      TestCache cache(2, KV, ld, D);
      const std::vector<int> slots = {1};
      std::vector<int64_t> limit(R);
      for (int64_t i = 0; i < R; ++i) limit[i] = i == 0 ? 1 : 1 + (i * 13) % ld;
      const auto q = torch::randn({1, KV, R, D});
      auto out = torch::empty({1, KV, R, D});
      AttendOverCache(q.data_ptr<float>(), R, limit, slots, {}, KV, D, ld, cache.Bf16(),
                      out.data_ptr<float>());
      // The softmax weights are rounded to bf16 too, hence a looser bound than the products'.
      EXPECT_LT(RelErr(out.to(torch::kFloat64),
                       NaiveAttention(q, cache.k, cache.v, limit, slots, R, true)),
                2e-2)
          << "D " << D << " R " << R;
    }
}

std::vector<torch::Tensor> Kv(int n) { return {torch::full({n}, static_cast<float>(n))}; }

TEST(PrefixCacheTest, FindsTheLongestProperPrefixAndEvictsTheLeastRecentlyUsed) {
  PrefixCache cache(/*capacity_bytes=*/100, /*bytes_per_token=*/10);  // 10 tokens in all
  EXPECT_FALSE(cache.Fits(0));
  EXPECT_FALSE(cache.Fits(11));
  EXPECT_TRUE(cache.Fits(10));
  const uint64_t a = cache.Insert({1, 2}, Kv(2), Kv(2));
  const uint64_t b = cache.Insert({1, 2, 3, 4}, Kv(4), Kv(4));
  EXPECT_NE(a, b);
  EXPECT_EQ(cache.entries(), 2);
  EXPECT_EQ(cache.bytes(), 60);
  const std::vector<int> prompt = {1, 2, 3, 4, 5};
  ASSERT_NE(cache.Find(prompt), nullptr);
  EXPECT_EQ(cache.Find(prompt)->id, b);
  EXPECT_EQ(cache.Find(prompt)->k[0].size(0), 4);
  // A proper prefix only: the whole prompt leaves no token to pre-fill, so the shorter entry wins.
  EXPECT_EQ(cache.Find(std::vector<int>{1, 2, 3, 4})->id, a);
  EXPECT_EQ(cache.Find(std::vector<int>{1, 2}), nullptr);
  EXPECT_EQ(cache.Find(std::vector<int>{2, 1, 3}), nullptr);
  EXPECT_TRUE(cache.Contains(prompt, 4));
  EXPECT_FALSE(cache.Contains(prompt, 3));
  // `a` used last, so a 5-token entry (60 + 50 > 100) drops `b`, the least recently used.
  cache.Touch(*cache.Find(std::vector<int>{1, 2, 9}));
  const uint64_t c = cache.Insert({7, 7, 7, 7, 7}, Kv(5), Kv(5));
  EXPECT_EQ(cache.entries(), 2);
  EXPECT_EQ(cache.bytes(), 70);
  EXPECT_FALSE(cache.Contains(prompt, 4));
  EXPECT_EQ(cache.Find(prompt)->id, a);
  // A 10-token entry needs the whole capacity: everything else goes.
  const std::vector<int> ten(10, 3);
  cache.Insert(ten, Kv(10), Kv(10));
  EXPECT_EQ(cache.entries(), 1);
  EXPECT_EQ(cache.bytes(), 100);
  EXPECT_THROW(cache.Insert(std::vector<int>(11, 1), Kv(11), Kv(11)), std::exception);
  cache.Clear();
  EXPECT_EQ(cache.entries(), 0);
  EXPECT_EQ(cache.bytes(), 0);
  EXPECT_GT(cache.Insert({1}, Kv(1), Kv(1)), c);  // ids are never reused
}

}  // namespace
}  // namespace muchator
