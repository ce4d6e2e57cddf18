// chrF and chrF++ exactly as sacrebleu 2.6.0 (metrics/chrf.py): character
// n-grams (orders 1..6) over code points with whitespace removed, optional
// word n-grams (chrF++, word_order 2), beta 2, effective-order averaging of
// precision and recall (or eps smoothing), best reference per segment.
#pragma once

#include <string>
#include <vector>

#include "metrics/example.h"
#include "metrics/ngram.h"
#include "metrics/token_vocab.h"

namespace mds {

struct ChrfOptions {
  int char_order = 6;
  int word_order = 0;  // 2 = chrF++
  int beta = 2;
  bool lowercase = false;
  bool whitespace = false;  // keep whitespace inside character n-grams
  bool eps_smoothing = false;
};

struct ChrfScore {
  double score = 0;
  std::string formatted;  // "chrF2 = 64.10", "chrF2++ = ..."
};

// [hyp, ref, match] counts per order (char orders, then word orders).
using ChrfStats = std::vector<long long>;

// sacrebleu CHRF._compute_f_score (0..100).
double chrf_from_stats(const ChrfStats& stats, const ChrfOptions& opt);
ChrfScore chrf_score(const ChrfStats& stats, const ChrfOptions& opt);
// "nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:2.6.0"; nrefs < 0 means "var".
std::string chrf_signature(const ChrfOptions& opt, int nrefs);

// Segment statistics against the best reference; one per thread.
class ChrfScorer {
 public:
  explicit ChrfScorer(ChrfOptions opt);
  ChrfStats segment(const std::string& hyp, const std::vector<std::string>& refs);

 private:
  // n-gram ids of every order for one text (chars, then words), interned per segment.
  void extract(const std::string& text, std::vector<std::vector<uint32_t>>& grams);
  ChrfOptions opt_;
  TokenVocab words_;
  std::vector<PairInterner> interners_;  // one per order, shared by hyp and refs of a segment
  std::vector<std::vector<uint32_t>> hyp_grams_, ref_grams_;
  std::vector<uint32_t> prev_, next_, base_, counts_;
};

std::vector<ChrfStats> chrf_segment_stats(const std::vector<EvalExample>& examples, const ChrfOptions& opt,
                                          int threads);
ChrfScore corpus_chrf(const std::vector<EvalExample>& examples, const ChrfOptions& opt, int threads);
ChrfScore sentence_chrf(const std::string& hyp, const std::vector<std::string>& refs, const ChrfOptions& opt);

}  // namespace mds
