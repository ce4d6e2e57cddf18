// nltk.translate.bleu_score (3.8): modified_precision as unnormalised
// fractions, closest_ref_length, brevity_penalty, method4 smoothing and the
// fsum of weighted logs that skips zero precisions.
#include "metrics/nltk_bleu.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "metrics/pymath.h"

namespace mds {

double NltkBleu::sentence_bleu_method4(const std::vector<const std::vector<uint32_t>*>& refs,
                                       const std::vector<uint32_t>& hyp) {
  constexpr int kOrder = 4;
  constexpr double kWeight = 0.25;
  constexpr int kK = 5;  // method4's k
  const size_t nrefs = refs.size();
  long long num[kOrder + 1] = {0}, den[kOrder + 1] = {0};

  // n-gram ids order by order, shared by the hypothesis and all references.
  ngrams_.start(hyp);
  for (size_t r = 0; r < nrefs; ++r) ngrams_.add_ref(*refs[r]);
  for (int n = 1; n <= kOrder; ++n) {
    if (n > 1) ngrams_.next_order(static_cast<size_t>(n));
    const size_t alphabet = ngrams_.alphabet();
    // modified_precision: clipped counts over the max count in any reference.
    counts_.assign(alphabet, 0);
    maxref_.assign(alphabet, 0);
    for (uint32_t g : ngrams_.hyp()) ++counts_[g];
    for (size_t r = 0; r < nrefs; ++r) {
      refcount_.assign(alphabet, 0);
      for (uint32_t g : ngrams_.ref(r)) ++refcount_[g];
      for (size_t g = 0; g < alphabet; ++g) maxref_[g] = std::max(maxref_[g], refcount_[g]);
    }
    long long clipped = 0;
    for (size_t g = 0; g < alphabet; ++g) clipped += std::min(counts_[g], maxref_[g]);
    num[n] = clipped;
    den[n] = std::max<long long>(1, static_cast<long long>(ngrams_.hyp().size()));
  }

  // closest_ref_length: min by (|ref_len - hyp_len|, ref_len).
  long long hyp_len = static_cast<long long>(hyp.size());
  long long ref_len = 0;
  bool first = true;
  for (size_t r = 0; r < nrefs; ++r) {
    long long len = static_cast<long long>(refs[r]->size());
    if (first || std::llabs(len - hyp_len) < std::llabs(ref_len - hyp_len) ||
        (std::llabs(len - hyp_len) == std::llabs(ref_len - hyp_len) && len < ref_len))
      ref_len = len;
    first = false;
  }
  // brevity_penalty(closest_ref_len, hyp_len)
  double bp;
  if (hyp_len > ref_len)
    bp = 1.0;
  else if (hyp_len == 0)
    bp = 0.0;
  else
    bp = std::exp(1 - static_cast<double>(ref_len) / static_cast<double>(hyp_len));

  if (num[1] == 0) return 0.0;  // nltk returns the int 0

  // method4: p_n = 1 / (2^incvnt * k / ln(hyp_len)) / denominator for zero numerators.
  double p[kOrder + 1];
  int incvnt = 1;
  for (int n = 1; n <= kOrder; ++n) {
    if (num[n] == 0 && hyp_len > 1) {
      double numerator = 1 / (static_cast<double>((1LL << incvnt) * kK) / std::log(static_cast<double>(hyp_len)));
      p[n] = numerator / static_cast<double>(den[n]);
      ++incvnt;
    } else {
      p[n] = static_cast<double>(num[n]) / static_cast<double>(den[n]);  // float(Fraction): correctly rounded
    }
  }
  double terms[kOrder];
  size_t nterms = 0;
  for (int n = 1; n <= kOrder; ++n)
    if (p[n] > 0) terms[nterms++] = kWeight * std::log(p[n]);
  return bp * std::exp(python_fsum(terms, nterms));
}

}  // namespace mds
