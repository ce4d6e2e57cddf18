// One evaluation example as every metric sees it: a hypothesis, its
// references, optionally several candidates (samples) for the same source,
// and where it came from (for messages and per-example output).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/parallel.h"

namespace mds {

struct EvalExample {
  std::string hyp;
  std::vector<std::string> refs;
  std::vector<std::string> candidates;
  uint64_t line = 0;  // input line number (1-based), 0 when not from a file
};

// Scorer(opt).segment(hyp, refs) of every example on `threads` threads, one
// scorer per thread, in input order (BLEU's and chrF's segment statistics).
template <typename Scorer, typename Options>
auto score_segments(const std::vector<EvalExample>& examples, const Options& opt, int threads) {
  return parallel_map(
      examples.size(), threads, [&] { return Scorer(opt); },
      [&](Scorer& s, size_t i) { return s.segment(examples[i].hyp, examples[i].refs); });
}

}  // namespace mds
