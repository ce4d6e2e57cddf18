// rouge-score's BootstrapAggregator, reproduced bit for bit: numpy's legacy
// global RandomState (MT19937 seeded with np.random.seed(seed)), choice()
// with replacement through legacy masked bounded integers, row-by-row column
// means, and np.percentile's "linear" method. The RNG stream runs through the
// types in order, as upstream does (see docs/metrics.md).
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "metrics/rouge.h"

namespace mds {

// numpy.random.RandomState's legacy integer draws on MT19937.
class NumpyLegacyRandom {
 public:
  explicit NumpyLegacyRandom(uint32_t seed) : mt_(seed) {}
  // randint(0, n) as RandomState draws it (n >= 1).
  uint64_t randint(uint64_t n);

 private:
  std::mt19937 mt_;
};

struct BootstrapOptions {
  size_t n_samples = 1000;
  double confidence_interval = 0.95;
  uint32_t seed = 0;  // rouge-score never seeds; the reference vectors call np.random.seed(seed) first
};

struct BootstrapInterval {
  Prf low, mid, high;
};

// scores[i][t]: example i, type t. Returns one interval per type.
std::vector<BootstrapInterval> bootstrap_aggregate(const std::vector<std::vector<Prf>>& scores, size_t types,
                                                   const BootstrapOptions& opt);

// np.percentile(sorted_values, q) with the default linear method; values sorted ascending.
double numpy_percentile_sorted(const std::vector<double>& sorted_values, double q);

}  // namespace mds
