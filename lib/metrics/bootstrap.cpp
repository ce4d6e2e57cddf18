// Bootstrap confidence intervals exactly as rouge-score + numpy 1.24 compute them.
#include "metrics/bootstrap.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace mds {

uint64_t NumpyLegacyRandom::randint(uint64_t n) {
  uint64_t rng = n - 1;
  if (rng == 0) return 0;  // numpy draws nothing for a one-value range
  // Smallest all-ones mask covering rng; one 32-bit word per attempt (legacy masked rejection).
  uint64_t mask = rng;
  mask |= mask >> 1;
  mask |= mask >> 2;
  mask |= mask >> 4;
  mask |= mask >> 8;
  mask |= mask >> 16;
  mask |= mask >> 32;
  if (rng <= 0xFFFFFFFFULL) {
    uint64_t v;
    while ((v = (mt_() & mask)) > rng) {
    }
    return v;
  }
  // Ranges beyond 32 bits take two words (high first), as numpy's next_uint64.
  uint64_t v;
  do {
    uint64_t hi = mt_(), lo = mt_();
    v = ((hi << 32) | lo) & mask;
  } while (v > rng);
  return v;
}

double numpy_percentile_sorted(const std::vector<double>& x, double q) {
  size_t n = x.size();
  double quant = q / 100.0;  // np.percentile divides by 100 first
  double v = static_cast<double>(n - 1) * quant;
  if (v >= static_cast<double>(n - 1)) return x[n - 1];
  if (v <= 0) return x[0];
  double lo_f = std::floor(v);
  auto lo = static_cast<size_t>(lo_f);
  double g = v - lo_f;
  double a = x[lo], b = x[lo + 1];
  double d = b - a;
  // numpy _lerp: a + d*g, or b - d*(1-g) when g >= 0.5 (monotonic near the ends).
  return g >= 0.5 ? b - d * (1 - g) : a + d * g;
}

std::vector<BootstrapInterval> bootstrap_aggregate(const std::vector<std::vector<Prf>>& scores, size_t types,
                                                   const BootstrapOptions& opt) {
  if (opt.n_samples == 0) throw_usage("bootstrap needs at least one resample");
  if (!(opt.confidence_interval > 0 && opt.confidence_interval < 1))
    throw_usage("confidence interval must be between 0 and 1, found {}", opt.confidence_interval);
  std::vector<BootstrapInterval> out(types);
  size_t n = scores.size();
  if (n == 0) return out;
  NumpyLegacyRandom rng(opt.seed);
  // rouge-score: q = 100 * [delta, 0.5, 1 - delta] with delta = (1 - ci) / 2.
  double delta = (1 - opt.confidence_interval) / 2;
  const double q[3] = {100 * delta, 100 * 0.5, 100 * (1 - delta)};
  std::vector<uint64_t> idx(n);
  std::vector<double> means[3];
  for (auto& m : means) m.resize(opt.n_samples);
  for (size_t t = 0; t < types; ++t) {
    for (size_t s = 0; s < opt.n_samples; ++s) {
      for (size_t k = 0; k < n; ++k) idx[k] = rng.randint(n);
      // np.mean(sample, axis=0) on an N x 3 array: rows added one after another.
      double sp = 0, sr = 0, sf = 0;
      for (size_t k = 0; k < n; ++k) {
        const Prf& p = scores[idx[k]][t];
        sp += p.precision;
        sr += p.recall;
        sf += p.fmeasure;
      }
      means[0][s] = sp / static_cast<double>(n);
      means[1][s] = sr / static_cast<double>(n);
      means[2][s] = sf / static_cast<double>(n);
    }
    Prf* rows[3] = {&out[t].low, &out[t].mid, &out[t].high};
    for (int c = 0; c < 3; ++c) {
      std::sort(means[c].begin(), means[c].end());
      for (int r = 0; r < 3; ++r) {
        double v = numpy_percentile_sorted(means[c], q[r]);
        if (c == 0) rows[r]->precision = v;
        if (c == 1) rows[r]->recall = v;
        if (c == 2) rows[r]->fmeasure = v;
      }
    }
  }
  return out;
}

}  // namespace mds
