// Analytic denoisers for the sampler tests: models whose exact x0 predictor
// is known in closed form, so solver math and the sampling pipeline can be
// checked without a trained network.
//  - GaussianDenoiser: target embeddings x0 ~ N(mu, s^2 I) per slot; the exact
//    posterior mean under the (m-centred) forward process is linear in x_t,
//    and the probability-flow ODE has a closed-form solution.
//  - MemoryDenoiser: the Bayes posterior mean E[x0 | x_t, src] of the forward
//    process (Gaussian around m plus DiffuSeq-v2's absorbing replacement) when
//    the data are a finite set of (src, trg) pairs; a correct sampler
//    reproduces a training target of the source exactly, each target of an
//    ambiguous source with its data frequency.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "model/schedule.h"
#include "sample/denoiser.h"
#include "sample/text_codec.h"

namespace mds::testing {

// Unit-norm random embeddings times `scale` (equal norms: the head's argmax is
// then the nearest embedding), with a fixed seed.
inline std::vector<float> random_embeddings(int V, int d, uint32_t seed, float scale) {
  std::mt19937 g(seed);
  std::normal_distribution<float> n(0.0f, 1.0f);
  std::vector<float> e(static_cast<size_t>(V) * d);
  for (int v = 0; v < V; ++v) {
    double norm = 0;
    for (int j = 0; j < d; ++j) norm += std::pow(e[static_cast<size_t>(v) * d + j] = n(g), 2);
    for (int j = 0; j < d; ++j) e[static_cast<size_t>(v) * d + j] *= scale / static_cast<float>(std::sqrt(norm));
  }
  return e;
}

// Shared boilerplate of both models.
class AnalyticBase : public Denoiser {
 public:
  AnalyticBase(DenoiserInfo info, std::vector<float> emb, std::vector<float> m)
      : info_(info),
        schedule_(SamplingSchedule::from_alpha_bar(NoiseSchedule::sqrt_schedule(2000).alpha_bars(), "sqrt")),
        emb_(std::move(emb)),
        m_(std::move(m)) {}
  void set_schedule(SamplingSchedule s) { schedule_ = std::move(s); }
  const DenoiserInfo& info() const override { return info_; }
  const SamplingSchedule& schedule() const override { return schedule_; }
  const std::vector<float>& embedding() const override { return emb_; }
  const std::vector<float>& head_bias() const override { return bias_; }
  const std::vector<float>& absorbing_vector() const override { return m_; }
  // Every x_t the model was called with, when recording.
  bool record = false;
  std::vector<std::vector<float>> inputs;
  std::vector<double> input_times;

 protected:
  void note(const std::vector<float>& x, const std::vector<double>& t) {
    if (!record) return;
    inputs.push_back(x);
    input_times.push_back(t.empty() ? -1 : t[0]);
  }
  // Offset into the target region of slot p of row r, or -1 for a non-target slot.
  static int target_offset(const Batch& b, int r, int p) {
    const size_t L = static_cast<size_t>(b.seq_len), slot = static_cast<size_t>(r) * L + static_cast<size_t>(p);
    if (!b.valid[slot] || !b.target_mask[slot]) return -1;
    int first = p;
    while (first > 0 && b.target_mask[static_cast<size_t>(r) * L + static_cast<size_t>(first) - 1]) --first;
    return p - first;
  }
  DenoiserInfo info_;
  SamplingSchedule schedule_;
  std::vector<float> emb_, m_, bias_;
};

class GaussianDenoiser : public AnalyticBase {
 public:
  // mu [target slots, d]; std s.
  GaussianDenoiser(DenoiserInfo info, std::vector<float> emb, std::vector<float> m, std::vector<float> mu, double s)
      : AnalyticBase(info, std::move(emb), std::move(m)), mu_(std::move(mu)), s_(s) {}
  std::string describe() const override { return "analytic gaussian"; }

  void predict_x0(const Batch& b, const std::vector<float>& x, const std::vector<double>& t,
                  std::vector<float>& x0) override {
    note(x, t);
    const size_t d = static_cast<size_t>(info_.embed_dim), L = static_cast<size_t>(b.seq_len);
    x0.assign(x.size(), 0.0f);
    for (int r = 0; r < b.batch_size; ++r) {
      const double ab = schedule_.alpha_bar_at(t[static_cast<size_t>(r)]);
      const double gain = std::sqrt(ab) * s_ * s_ / (ab * s_ * s_ + 1.0 - ab);
      for (int p = 0; p < b.seq_len; ++p) {
        const size_t slot = static_cast<size_t>(r) * L + static_cast<size_t>(p);
        const int k = target_offset(b, r, p);
        for (size_t j = 0; j < d; ++j) {
          if (k < 0) {
            x0[slot * d + j] = 7.0f;  // garbage: the sampler must re-impose the source
            continue;
          }
          const double mu = mu_[static_cast<size_t>(k) * d + j], m = m_[j];
          const double y = x[slot * d + j] - m;
          x0[slot * d + j] = static_cast<float>(mu + gain * (y - std::sqrt(ab) * (mu - m)));
        }
      }
    }
  }
  const std::vector<float>& mu() const { return mu_; }
  double s() const { return s_; }

 private:
  std::vector<float> mu_;
  double s_;
};

struct Pair {
  std::vector<int32_t> src, trg;
};

class MemoryDenoiser : public AnalyticBase {
 public:
  MemoryDenoiser(DenoiserInfo info, std::vector<float> emb, std::vector<float> m, std::vector<Pair> pairs)
      : AnalyticBase(info, std::move(emb), std::move(m)), pairs_(std::move(pairs)) {}
  std::string describe() const override { return "analytic memory"; }

  void predict_x0(const Batch& b, const std::vector<float>& x, const std::vector<double>& t,
                  std::vector<float>& x0) override {
    note(x, t);
    const size_t d = static_cast<size_t>(info_.embed_dim), L = static_cast<size_t>(b.seq_len);
    x0.assign(x.size(), 0.0f);
    for (int r = 0; r < b.batch_size; ++r) {
      const size_t base = static_cast<size_t>(r) * L;
      // Source ids between [CLS] and the first [SEP]; target slots after it.
      std::vector<int32_t> src;
      size_t p = 1;
      while (b.tokens[base + p] != info_.special.sep) src.push_back(b.tokens[base + p++]);
      const size_t trg0 = p + 1;
      size_t slots = 0;
      while (trg0 + slots < L && b.valid[base + trg0 + slots] && b.target_mask[base + trg0 + slots]) ++slots;
      std::vector<size_t> cand;
      for (size_t i = 0; i < pairs_.size(); ++i)
        if (pairs_[i].src == src) cand.push_back(i);
      if (cand.empty())
        for (size_t i = 0; i < pairs_.size(); ++i) cand.push_back(i);
      const double ab = schedule_.alpha_bar_at(t[static_cast<size_t>(r)]);
      std::vector<double> logw(cand.size());
      double best = -1e300;
      for (size_t c = 0; c < cand.size(); ++c) {
        const auto ids = layout(pairs_[cand[c]].trg, slots);
        double dist = 0;
        for (size_t k = 0; k < slots; ++k) {
          if (absorbed(x, (base + trg0 + k) * d)) continue;  // an absorbed slot carries no information
          for (size_t j = 0; j < d; ++j) {
            const double y0 = emb_[static_cast<size_t>(ids[k]) * d + j] - m_[j];
            const double y = x[(base + trg0 + k) * d + j] - m_[j];
            dist += (y - std::sqrt(ab) * y0) * (y - std::sqrt(ab) * y0);
          }
        }
        logw[c] = -dist / (2.0 * (1.0 - ab));
        best = std::max(best, logw[c]);
      }
      double z = 0;
      for (double& w : logw) z += (w = std::exp(w - best));
      for (size_t c = 0; c < cand.size(); ++c) {
        const auto ids = layout(pairs_[cand[c]].trg, slots);
        for (size_t k = 0; k < slots; ++k)
          for (size_t j = 0; j < d; ++j)
            x0[(base + trg0 + k) * d + j] += static_cast<float>(logw[c] / z * emb_[static_cast<size_t>(ids[k]) * d + j]);
      }
      for (size_t q = 0; q < trg0; ++q)
        for (size_t j = 0; j < d; ++j) x0[(base + q) * d + j] = -5.0f;  // garbage on the source
    }
  }
  // True when the slot at x[at..at+d) is exactly m: DiffuSeq-v2's absorbing
  // replacement, which happens whatever x0 is (so it drops out of the likelihood).
  bool absorbed(const std::vector<float>& x, size_t at) const {
    for (size_t j = 0; j < static_cast<size_t>(info_.embed_dim); ++j)
      if (x[at + j] != m_[j]) return false;
    return true;
  }
  // The target region of a pair: trg [SEP] [PAD]... over `slots` slots.
  std::vector<int32_t> layout(const std::vector<int32_t>& trg, size_t slots) const {
    std::vector<int32_t> ids(slots, info_.special.pad);
    for (size_t k = 0; k < trg.size() && k < slots; ++k) ids[k] = trg[k];
    if (trg.size() < slots) ids[trg.size()] = info_.special.sep;
    return ids;
  }

 private:
  std::vector<Pair> pairs_;
};

// Words a..l are ids 4..15 (single letters separated by spaces).
class LetterCodec : public TextCodec {
 public:
  std::vector<int32_t> encode(const std::string& text) const override {
    std::vector<int32_t> ids;
    std::istringstream in(text);
    std::string w;
    while (in >> w) ids.push_back(4 + (w[0] - 'a'));
    return ids;
  }
  std::string decode(const std::vector<int32_t>& ids) const override {
    std::string out;
    for (int32_t id : ids) out += (out.empty() ? "" : " ") + std::string(1, static_cast<char>('a' + id - 4));
    return out;
  }
};

// The memorised pairs: "g" has two targets, "h i" an empty one.
inline const std::vector<std::pair<std::string, std::string>> kPairs = {
    {"a b", "c d e"}, {"b a", "f"}, {"c", "g h i j k"}, {"d e f", "k l"}, {"h i", ""}, {"g", "a"}, {"g", "b c"}};

// A MemoryDenoiser over kPairs: V = 16, d = 16, max_src_len 8, max_trg_len 5.
inline MemoryDenoiser memory_model() {
  LetterCodec codec;
  std::vector<Pair> pairs;
  for (const auto& [s, t] : kPairs) pairs.push_back({codec.encode(s), codec.encode(t)});
  DenoiserInfo info;
  info.embed_dim = 16;
  info.vocab_size = 16;
  info.max_src_len = 8;
  info.max_trg_len = 5;
  info.max_positions = 32;
  info.absorb_rate = 0.5;
  std::vector<float> m(16);
  for (int j = 0; j < 16; ++j) m[static_cast<size_t>(j)] = 0.1f * static_cast<float>(j % 3);
  return MemoryDenoiser(info, random_embeddings(16, 16, 11, 3.0f), m, pairs);
}

}  // namespace mds::testing
