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
  std::vector<size_t> out(sets.size());
  parallel_for_each(
      sets.size(), threads, [] { return DiffuSeqScorer(); },
      [&](DiffuSeqScorer& s, size_t i) { out[i] = s.select_best(sets[i]); });
  return out;
}

}  // namespace mds
