// ROUGE-N, ROUGE-L and ROUGE-Lsum exactly as Google's rouge-score
// (rouge_scorer.RougeScorer.score / score_multi); see docs/metrics.md.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "metrics/example.h"
#include "metrics/lcs.h"
#include "metrics/ngram.h"
#include "metrics/tokenize_rouge.h"

namespace mds {

struct Prf {
  double precision = 0.0, recall = 0.0, fmeasure = 0.0;
};

// rouge-score scoring.fmeasure: 2*P*R/(P+R), or 0 when P+R == 0.
double rouge_fmeasure(double precision, double recall);

struct RougeOptions {
  // "rouge1".."rouge9", "rougeL", "rougeLsum", in the order results are returned.
  std::vector<std::string> types{"rouge1", "rouge2", "rougeL", "rougeLsum"};
  RougeTokenizeOptions tokenize;
};

// Throws a usage error for an unknown or repeated type.
void check_rouge_types(const std::vector<std::string>& types);

// Scores pairs; holds caches, so one scorer per thread.
class RougeScorer {
 public:
  explicit RougeScorer(RougeOptions opt);
  // rouge-score score(target, prediction): one Prf per type, in type order.
  std::vector<Prf> score(std::string_view target, std::string_view prediction);
  // rouge-score score_multi: per type, the target with the highest F (first on ties).
  std::vector<Prf> score_multi(const std::vector<std::string>& targets, std::string_view prediction);
  const RougeOptions& options() const { return opt_; }

 private:
  void to_local(const TokenizedText& t, std::vector<uint32_t>& out);
  Prf score_ngram(size_t n);
  Prf score_lcs();
  Prf score_lsum();

  RougeOptions opt_;
  std::vector<int> orders_;  // per type: n for rougeN, 0 for rougeL, -1 for rougeLsum
  TokenVocab vocab_;
  TokenizedText ref_tok_, hyp_tok_;
  std::string scratch_;
  std::vector<uint32_t> ref_, hyp_;               // dense per-pair ids
  std::vector<uint32_t> local_of_, local_stamp_;  // vocab id -> dense id
  uint32_t stamp_ = 0;
  size_t alphabet_ = 0;
  std::vector<uint32_t> ref_ng_, hyp_ng_, ref_prev_, hyp_prev_, counts_, cnt_r_, cnt_c_, lcs_idx_;
  std::vector<char> in_union_;
  PairInterner interner_;
  LcsEngine lcs_;
};

// Scores every example (hyp against refs, best reference per type) on
// `threads` threads (0 = all cores). Results are in input order.
std::vector<std::vector<Prf>> score_rouge_many(const std::vector<EvalExample>& examples, const RougeOptions& opt,
                                               int threads);

}  // namespace mds
