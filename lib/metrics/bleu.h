// Corpus and sentence BLEU exactly as sacrebleu 2.6.0 (metrics/bleu.py):
// 13a tokenization, n-gram statistics clipped by the max count over the
// references, closest reference length, exp/floor/add-k/none smoothing,
// and sacrebleu's formatted line and signature (see docs/metrics.md).
#pragma once

#include <string>
#include <vector>

#include "metrics/example.h"
#include "metrics/ngram.h"
#include "metrics/token_vocab.h"
#include "metrics/tokenize_13a.h"

namespace mds {

enum class BleuSmooth { exp, floor, add_k, none };

struct BleuOptions {
  bool lowercase = false;
  BleuTokenizer tokenize = BleuTokenizer::t13a;
  BleuSmooth smooth = BleuSmooth::exp;
  double smooth_value = -1;  // < 0: sacrebleu's default (floor 0.1, add-k 1)
  int max_order = 4;
  bool effective_order = false;  // sacrebleu sentence BLEU uses true
};

// Sufficient statistics of one segment or a whole corpus.
struct BleuStats {
  long long sys_len = 0, ref_len = 0;
  std::vector<long long> correct, total;
  void add(const BleuStats& o);
};

struct BleuScore {
  double score = 0, bp = 0, ratio = 0;
  std::vector<double> counts, totals;  // add-k may add a non-integer value
  std::vector<double> precisions;
  long long sys_len = 0, ref_len = 0;
  std::string formatted;  // "BLEU = 38.18 64.7/42.8/31.4/24.4 (BP = 1.000 ...)"
};

// sacrebleu BLEU.compute_bleu from statistics.
BleuScore compute_bleu(const BleuStats& stats, const BleuOptions& opt);
// "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0"; nrefs < 0 means "var".
std::string bleu_signature(const BleuOptions& opt, int nrefs);
// sacrebleu keeps references that are not the empty string; a segment with none
// left keeps one empty reference here (sacrebleu would raise an error).
std::vector<const std::string*> usable_references(const std::vector<std::string>& refs);
// nrefs for the signature: the common count of usable references, or -1 if it varies.
int count_references(const std::vector<EvalExample>& examples);

// Segment statistics; one per thread (caches token ids).
class BleuScorer {
 public:
  explicit BleuScorer(BleuOptions opt);
  BleuStats segment(const std::string& hyp, const std::vector<std::string>& refs);

 private:
  void ids_of(const std::string& text, std::vector<uint32_t>& out);
  BleuOptions opt_;
  TokenVocab vocab_;
  NgramOrders ngrams_;
  std::vector<uint32_t> hyp_, counts_, maxref_, refcount_;
  std::vector<std::vector<uint32_t>> refs_;
};

// Per-segment statistics for all examples on `threads` threads (input order).
std::vector<BleuStats> bleu_segment_stats(const std::vector<EvalExample>& examples, const BleuOptions& opt,
                                          int threads);
// sacrebleu corpus_bleu / sentence_bleu.
BleuScore corpus_bleu(const std::vector<EvalExample>& examples, const BleuOptions& opt, int threads);
BleuScore sentence_bleu(const std::string& hyp, const std::vector<std::string>& refs, BleuOptions opt);

}  // namespace mds
