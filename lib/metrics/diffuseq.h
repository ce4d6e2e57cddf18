// DiffuSeq's evaluation (scripts/eval_seq2seq.py at f78945d) per line and per
// sample set: nltk method4 sentence BLEU on whitespace tokens, torchmetrics
// ROUGE-L F (rouge-score's value rounded to float32), dist-1, length,
// self-BLEU and div-4 over several samples, and MBR selection.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "metrics/example.h"
#include "metrics/nltk_bleu.h"
#include "metrics/rouge.h"
#include "metrics/token_vocab.h"

namespace mds {

// Special tokens DiffuSeq strips (its --sos/--eos/--sep/--pad defaults).
struct DiffuSeqTokens {
  bool remove = true;
  std::string sos = "[CLS]", eos = "[SEP]", sep = "[SEP]", pad = "[PAD]";
};

// reference.strip() then removal of eos, sos, sep (in that order).
std::string diffuseq_clean_reference(std::string_view text, const DiffuSeqTokens& tok);
// recover.strip() then removal of eos, sos, sep, pad (in that order).
std::string diffuseq_clean_recover(std::string_view text, const DiffuSeqTokens& tok);

struct DiffuSeqLine {
  double bleu = 0, rougeL = 0, dist1 = 0;
  long long len = 0;  // len(recover.split(" "))
};

struct DiffuSeqDiversity {
  double self_bleu = 0, div4 = 0;
};

// Scores cleaned texts; holds caches, so one per thread.
class DiffuSeqScorer {
 public:
  DiffuSeqScorer();
  // get_bleu(recover, reference) = sentence_bleu([reference.split()], recover.split(), method4).
  double bleu(std::string_view recover, std::string_view reference);
  // bleu, rougeL (float32 F), dist1 and len of one recover against its reference.
  DiffuSeqLine line(std::string_view recover, std::string_view reference);
  // diversityOfSet: mean BLEU over pairs i < j (s_i hypothesis, s_j reference), div-4.
  DiffuSeqDiversity diversity(const std::vector<std::string>& samples);
  // selectBest: argmax_i sum_{j != i} get_bleu(s_i, s_j) (numpy row sums, first maximum).
  size_t select_best(const std::vector<std::string>& samples);

 private:
  void split_ids(std::string_view text, std::vector<uint32_t>& out);
  TokenVocab vocab_;
  NltkBleu nltk_;
  RougeScorer rouge_;
  std::vector<uint32_t> a_, b_;
  std::vector<std::vector<uint32_t>> sample_ids_;
};

// distinct_n_gram([text], 1): unique / total whitespace tokens, 0 when empty.
double diffuseq_dist1(std::string_view recover);

// Per example (cleaned hyp and reference = first reference).
std::vector<DiffuSeqLine> diffuseq_lines(const std::vector<EvalExample>& examples, const DiffuSeqTokens& tok,
                                         int threads);

}  // namespace mds
