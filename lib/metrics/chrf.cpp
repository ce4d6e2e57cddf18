// sacrebleu chrF / chrF++ (see chrf.h).
#include "metrics/chrf.h"

#include <fmt/format.h>

#include "core/error.h"
#include "metrics/bleu.h"
#include "core/parallel.h"
#include "metrics/unicode_py.h"

namespace mds {

double chrf_from_stats(const ChrfStats& st, const ChrfOptions& opt) {
  const double eps = 1e-16;
  const int order = opt.char_order + opt.word_order;
  const double factor = static_cast<double>(opt.beta) * opt.beta;  // beta ** 2 (an int in Python)
  double score = 0.0, avg_prec = 0.0, avg_rec = 0.0;
  int effective_order = 0;
  for (int i = 0; i < order; ++i) {
    long long n_hyp = st[3 * i], n_ref = st[3 * i + 1], n_match = st[3 * i + 2];
    double prec = n_hyp > 0 ? static_cast<double>(n_match) / static_cast<double>(n_hyp) : eps;
    double rec = n_ref > 0 ? static_cast<double>(n_match) / static_cast<double>(n_ref) : eps;
    double denom = factor * prec + rec;
    score += denom > 0 ? ((1 + factor) * prec * rec / denom) : eps;
    if (n_hyp > 0 && n_ref > 0) {
      avg_prec += prec;
      avg_rec += rec;
      ++effective_order;
    }
  }
  if (opt.eps_smoothing) return 100 * score / order;
  if (effective_order == 0) {
    avg_prec = avg_rec = 0.0;
  } else {
    avg_prec /= effective_order;
    avg_rec /= effective_order;
  }
  if (avg_prec + avg_rec != 0) {
    score = (1 + factor) * avg_prec * avg_rec;
    score /= (factor * avg_prec) + avg_rec;
    return 100 * score;
  }
  return 0.0;
}

ChrfScore chrf_score(const ChrfStats& stats, const ChrfOptions& opt) {
  ChrfScore s;
  s.score = chrf_from_stats(stats, opt);
  s.formatted = fmt::format("chrF{}{} = {:.2f}", opt.beta, std::string(static_cast<size_t>(opt.word_order), '+'),
                            s.score);
  return s;
}

std::string chrf_signature(const ChrfOptions& opt, int nrefs) {
  return fmt::format("nrefs:{}|case:{}|eff:{}|nc:{}|nw:{}|space:{}|version:2.6.0",
                     nrefs < 0 ? std::string("var") : std::to_string(nrefs), opt.lowercase ? "lc" : "mixed",
                     opt.eps_smoothing ? "no" : "yes", opt.char_order, opt.word_order, opt.whitespace ? "yes" : "no");
}

ChrfScorer::ChrfScorer(ChrfOptions opt) : opt_(opt) {
  if (opt_.char_order < 0 || opt_.word_order < 0 || opt_.char_order + opt_.word_order < 1 || opt_.char_order > 32 ||
      opt_.word_order > 32)
    throw_usage("chrF orders must be 0..32 and not both 0 (char {}, word {})", opt_.char_order, opt_.word_order);
  if (opt_.beta < 0) throw_usage("chrF beta must be >= 0, found {}", opt_.beta);
  interners_.resize(static_cast<size_t>(opt_.char_order + opt_.word_order));
}

namespace {

// string.punctuation, which chrF++ splits off one end of a word.
bool is_punct(char32_t c) {
  return c < 0x80 && ((c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
                      (c >= 0x7B && c <= 0x7E));
}

// CHRF._remove_punctuation: a word longer than one character loses a final,
// else an initial, punctuation character as a separate word.
std::vector<std::string> chrf_words(const std::string& text) {
  std::vector<std::string> out;
  for (std::string_view w : py_split(text)) {
    std::u32string u = utf8_to_u32(w);
    if (u.size() == 1) {
      out.emplace_back(w);
    } else if (is_punct(u.back())) {
      out.emplace_back(w.substr(0, w.size() - 1));  // punctuation is ASCII: one byte
      out.emplace_back(w.substr(w.size() - 1));
    } else if (is_punct(u.front())) {
      out.emplace_back(w.substr(0, 1));
      out.emplace_back(w.substr(1));
    } else {
      out.emplace_back(w);
    }
  }
  return out;
}

}  // namespace

void ChrfScorer::extract(const std::string& raw, std::vector<std::vector<uint32_t>>& grams) {
  std::string lowered;
  const std::string* text = &raw;
  if (opt_.lowercase) {
    lowered = py_lower(raw);
    text = &lowered;
  }
  grams.resize(interners_.size());
  // Characters: ''.join(text.split()) unless whitespace is kept.
  base_.clear();
  if (opt_.whitespace) {
    for (char32_t c : utf8_to_u32(*text)) base_.push_back(static_cast<uint32_t>(c));
  } else {
    for (std::string_view w : py_split(*text))
      for (char32_t c : utf8_to_u32(w)) base_.push_back(static_cast<uint32_t>(c));
  }
  for (int n = 1; n <= opt_.char_order; ++n) {
    auto& out = grams[static_cast<size_t>(n - 1)];
    PairInterner& in = interners_[static_cast<size_t>(n - 1)];
    if (n == 1) {
      out.resize(base_.size());
      for (size_t i = 0; i < base_.size(); ++i) out[i] = in.intern(base_[i]);
    } else {
      extend_ngrams(grams[static_cast<size_t>(n - 2)], base_.data(), base_.size(), static_cast<size_t>(n), in, out);
    }
  }
  if (opt_.word_order > 0) {
    words_.reset_if_larger_than(size_t(1) << 22);
    std::vector<std::string> words = chrf_words(*text);
    std::vector<uint32_t> ids;
    for (const auto& w : words) ids.push_back(words_.id(w));
    for (int n = 1; n <= opt_.word_order; ++n) {
      size_t slot = static_cast<size_t>(opt_.char_order + n - 1);
      auto& out = grams[slot];
      if (n == 1) {
        out.resize(ids.size());
        for (size_t i = 0; i < ids.size(); ++i) out[i] = interners_[slot].intern(ids[i]);
      } else {
        extend_ngrams(grams[slot - 1], ids.data(), ids.size(), static_cast<size_t>(n), interners_[slot], out);
      }
    }
  }
}

ChrfStats ChrfScorer::segment(const std::string& hyp, const std::vector<std::string>& refs) {
  for (auto& in : interners_) in.clear();
  extract(hyp, hyp_grams_);
  const size_t orders = interners_.size();
  ChrfStats best;
  double best_f = -1.0;
  for (const std::string* ref : usable_references(refs)) {
    extract(*ref, ref_grams_);
    ChrfStats st(3 * orders, 0);
    for (size_t o = 0; o < orders; ++o) {
      const auto& h = hyp_grams_[o];
      const auto& r = ref_grams_[o];
      // _get_match_statistics: the hypothesis count is reported as 0 when the
      // reference has no n-grams of this order.
      st[3 * o] = r.empty() ? 0 : static_cast<long long>(h.size());
      st[3 * o + 1] = static_cast<long long>(r.size());
      st[3 * o + 2] = static_cast<long long>(clipped_overlap(r, h, interners_[o].size(), counts_));
    }
    double f = chrf_from_stats(st, opt_);
    if (f > best_f) {
      best_f = f;
      best = st;
    }
  }
  return best;
}

std::vector<ChrfStats> chrf_segment_stats(const std::vector<EvalExample>& examples, const ChrfOptions& opt,
                                          int threads) {
  return score_segments<ChrfScorer>(examples, opt, threads);
}

ChrfScore corpus_chrf(const std::vector<EvalExample>& examples, const ChrfOptions& opt, int threads) {
  ChrfStats total(3 * static_cast<size_t>(opt.char_order + opt.word_order), 0);
  for (const auto& s : chrf_segment_stats(examples, opt, threads))
    for (size_t i = 0; i < total.size(); ++i) total[i] += s[i];
  return chrf_score(total, opt);
}

ChrfScore sentence_chrf(const std::string& hyp, const std::vector<std::string>& refs, const ChrfOptions& opt) {
  ChrfScorer s(opt);
  return chrf_score(s.segment(hyp, refs), opt);
}

}  // namespace mds
