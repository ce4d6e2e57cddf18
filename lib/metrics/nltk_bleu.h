// nltk 3.8's sentence_bleu with SmoothingFunction().method4 and the default
// weights (0.25, 0.25, 0.25, 0.25), on pre-split tokens (ids). DiffuSeq's
// BLEU, self-BLEU and MBR all use exactly this (see docs/metrics.md).
#pragma once

#include <cstdint>
#include <vector>

#include "metrics/ngram.h"

namespace mds {

class NltkBleu {
 public:
  // sentence_bleu(references, hypothesis, smoothing_function=method4) on 0..1.
  double sentence_bleu_method4(const std::vector<const std::vector<uint32_t>*>& references,
                               const std::vector<uint32_t>& hypothesis);

 private:
  NgramOrders ngrams_;
  std::vector<uint32_t> counts_, maxref_, refcount_;
};

}  // namespace mds
