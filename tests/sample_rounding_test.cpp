// The Denoiser's host rounding to the nearest embedding and its rounding-head
// argmax (the CPU backend's operations) against a brute-force reference on
// random tables, across the row-block boundary; the tokenizer adapter of the
// sampler.
#include <gtest/gtest.h>

#include <random>

#include "core/error.h"
#include "sample_analytic_models.h"
#include "sample/tokenizer_codec.h"
#include "text/tokenizer.h"

namespace mds {
namespace {

// A Denoiser that is only an embedding table (and a head bias): its rounding
// and decode are the Denoiser's host defaults.
class TableDenoiser : public testing::AnalyticBase {
 public:
  TableDenoiser(std::vector<float> E, std::vector<float> bias, int V, int d)
      : AnalyticBase(table_info(V, d), std::move(E), std::vector<float>(static_cast<size_t>(d), 0.0f)) {
    bias_ = std::move(bias);
  }
  void predict_x0(const Batch&, const std::vector<float>&, const std::vector<double>&, std::vector<float>&) override {}
  std::string describe() const override { return "table"; }

 private:
  static DenoiserInfo table_info(int V, int d) {
    DenoiserInfo info;
    info.vocab_size = V;
    info.embed_dim = d;
    return info;
  }
};

TEST(SampleRounding, NearestAndArgmaxMatchBruteForce) {
  std::mt19937 g(5);
  std::normal_distribution<float> n(0.0f, 1.0f);
  const int V = 3000, d = 24;
  const size_t rows = 1500;  // 256 rows per block of lib/cpu/rounding.cpp: six blocks
  std::vector<float> E(static_cast<size_t>(V) * d), bias(V), x(rows * d);
  for (auto& v : E) v = n(g);
  for (auto& v : bias) v = n(g);
  for (auto& v : x) v = 2 * n(g);
  std::vector<int32_t> near(rows), arg(rows);
  const TableDenoiser t(E, bias, V, d);
  t.nearest_ids(x.data(), rows, near.data());
  t.argmax_ids(x.data(), rows, arg.data());
  for (size_t r = 0; r < rows; ++r) {
    double best_d = 1e300, best_s = -1e300;
    int bd = -1, bs = -1;
    for (int v = 0; v < V; ++v) {
      double dist = 0, dot = 0;
      for (int j = 0; j < d; ++j) {
        const double e = E[static_cast<size_t>(v) * d + j], xv = x[r * d + j];
        dist += (e - xv) * (e - xv);
        dot += e * xv;
      }
      if (dist < best_d) best_d = dist, bd = v;
      if (dot + bias[static_cast<size_t>(v)] > best_s) best_s = dot + bias[static_cast<size_t>(v)], bs = v;
    }
    EXPECT_EQ(near[r], bd) << r;
    EXPECT_EQ(arg[r], bs) << r;
  }
}

TEST(SampleRounding, TiesGoToTheLowestIdAndExactEmbeddingsRoundToThemselves) {
  const std::vector<float> E{1, 0, 0, 1, 1, 0, -1, 0};  // rows 0 and 2 equal
  const TableDenoiser t(E, {}, 4, 2);
  const std::vector<float> x{1, 0, 0, 1, -1, 0, 0.9f, 0.1f};
  std::vector<int32_t> ids(4);
  t.nearest_ids(x.data(), 4, ids.data());
  EXPECT_EQ(ids, (std::vector<int32_t>{0, 1, 3, 0}));
  t.argmax_ids(x.data(), 4, ids.data());
  EXPECT_EQ(ids, (std::vector<int32_t>{0, 1, 3, 0}));
}

}  // namespace
}  // namespace mds

namespace mds {
namespace {

TEST(SampleCodec, TokenizerCodecRoundTripsAndDropsSpecials) {
  const auto codec_ptr = make_tokenizer_codec(Tokenizer());  // bytes only
  const TextCodec& codec = *codec_ptr;
  const std::string text = "naïve — ok";
  std::vector<int32_t> ids = codec.encode(text);
  ASSERT_EQ(ids.size(), text.size());
  for (int32_t id : ids) EXPECT_GE(id, 4);  // never a special
  EXPECT_EQ(codec.decode(ids), text);
  ids.insert(ids.begin() + 2, 3);  // [MASK] inside is dropped
  EXPECT_EQ(codec.decode(ids), text);
  EXPECT_THROW(codec.decode({-1}), Error);
}

}  // namespace
}  // namespace mds
