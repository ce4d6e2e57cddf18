// MBR selection (see mbr.h), a thin layer over DiffuSeqScorer::select_best.
#include "metrics/mbr.h"

#include "metrics/diffuseq.h"
#include "core/parallel.h"

namespace mds {

size_t select_mbr(const std::vector<std::string>& candidates) {
  DiffuSeqScorer scorer;
  return scorer.select_best(candidates);
}

std::vector<size_t> select_mbr_many(const std::vector<std::vector<std::string>>& sets, int threads) {
  return parallel_map(
      sets.size(), threads, [] { return DiffuSeqScorer(); },
      [&](DiffuSeqScorer& s, size_t i) { return s.select_best(sets[i]); });
}

}  // namespace mds
